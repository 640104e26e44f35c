"""The 58 scenarios of Auto-J's pairwise test set and the 8 groups Auto-J reports them in.

This is part of the benchmark's definition (Auto-J, arXiv:2310.05470, and its ``utils_constants.py``):
the group names and their order are the ones Auto-J's scorer prints.
"""

from __future__ import annotations

AUTOJ_GROUPS: dict[str, tuple[str, ...]] = {
    "Summarization": ("post_summarization", "text_summarization", "note_summarization"),
    "Exam Questions": ("math_reasoning", "solving_exam_question_with_math", "solving_exam_question_without_math"),
    "Code": ("code_simplification", "code_generation", "explaining_code", "code_correction_rewriting",
             "code_to_code_translation"),
    "Rewriting": ("text_simplification", "language_polishing", "instructional_rewriting", "text_correction",
                  "paraphrasing"),
    "Creative Writing": ("writing_song_lyrics", "writing_social_media_post", "writing_blog_post",
                         "writing_personal_essay", "creative_writing", "writing_advertisement",
                         "writing_marketing_materials", "writing_presentation_script", "counterfactual"),
    "Functional Writing": ("writing_product_description", "writing_job_application", "writing_news_article",
                           "writing_biography", "writing_email", "writing_legal_document",
                           "writing_technical_document", "writing_scientific_paper", "functional_writing",
                           "writing_cooking_recipe"),
    "General Communication": ("asking_how_to_question", "open_question", "analyzing_general", "explaining_general",
                              "seeking_advice", "recommendation", "value_judgement", "verifying_fact", "chitchat",
                              "roleplay", "planning", "brainstorming"),
    "NLP Tasks": ("ranking", "text_to_text_translation", "data_analysis", "classification_identification",
                  "title_generation", "question_generation", "reading_comprehension", "keywords_extraction",
                  "information_extraction", "topic_modeling", "others"),
}

#: scenario -> group
SCENARIO_GROUP: dict[str, str] = {scenario: group for group, scenarios in AUTOJ_GROUPS.items() for scenario in scenarios}
