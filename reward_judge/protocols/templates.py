"""Judge prompt templates, verbatim.

These strings are part of each judge's interface: the judge only works when it sees the text it
was trained on. They are kept line by line so trailing spaces stay visible; tests compare them
byte for byte with tests/data/PROTOCOLS.md.
"""

# Prometheus 1 absolute grading (seeds 000, 001, 003), with the reference block.
PROMETHEUS_V1_ABSOLUTE = "\n".join([
    "###Task Description:",
    "An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.",
    "1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.",
    "2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.",
    "3. The output format should look as follows: \"Feedback: (write a feedback for criteria) [RESULT] (an integer number between 1 and 5)\"",
    "4. Please do not generate any other opening, closing, and explanations.",
    "",
    "###The instruction to evaluate:",
    "{instruction}",
    "",
    "###Response to evaluate:",
    "{response}",
    "",
    "###Reference Answer (Score 5):",
    "{reference_answer}",
    "",
    "###Score Rubrics:",
    "{rubric}",
    "",
    "###Feedback: ",
])

# Prometheus 2 relative grading, with the reference block.
PROMETHEUS_V2_RELATIVE = "\n".join([
    "###Task Description:",
    "An instruction (might include an Input inside it), two responses to evaluate (denoted as Response A and Response B), a reference answer, and an evaluation criteria are given.",
    "1. Write a detailed feedback that assess the quality of the two responses strictly based on the given evaluation criteria, not evaluating in general.",
    "2. Make comparisons between Response A, Response B, and the Reference Answer. Instead of examining Response A and Response B separately, go straight to the point and mention about the commonalities and differences between them.",
    "3. After writing the feedback, indicate the better response, either \"A\" or \"B\".",
    "4. The output format should look as follows: \"Feedback: (write a feedback for criteria) [RESULT] (Either \"A\" or \"B\")\"",
    "5. Please do not generate any other opening, closing, and explanations.",
    "",
    "###Instruction:",
    "{instruction}",
    "",
    "###Response A:",
    "{response_A}",
    "",
    "###Response B:",
    "{response_B}",
    "",
    "###Reference Answer:",
    "{reference_answer}",
    "",
    "###Score Rubric:",
    "{rubric}",
    "",
    "###Feedback: ",
])

# Auto-J single-response protocol (seed 004), scale 1-10.
AUTOJ_SINGLE = "\n".join([
    "Write critiques for a submitted response on a given user's query, and grade the response:",
    "  ",
    "[BEGIN DATA]",
    "***",
    "[Query]: {prompt}",
    "***",
    "[Response]: {response}",
    "***",
    "[END DATA]",
    "",
    "Write critiques for this response. After that, you should give a final rating for the response on a scale of 1 to 10 by strictly following this format: \"[[rating]]\", for example: \"Rating: [[5]]\".",
])

# Auto-J pairwise_tie protocol (seed 004).
AUTOJ_PAIRWISE = "\n".join([
    "You are assessing two submitted responses on a given user's query and judging which response is better or they are tied. Here is the data:",
    "",
    "[BEGIN DATA]",
    "***",
    "[Query]: {prompt}",
    "***",
    "[Response 1]: {response}",
    "***",
    "[Response 2]: {response_another}",
    "***",
    "[END DATA]",
    "",
    "Here are the instructions to assess and compare the two responses:",
    "",
    "1. Pinpoint the key factors to distinguish these two responses.",
    "2. Conclude your comparison by providing a final decision on which response is better, or they are tied. Begin your final decision statement with \"So, the final decision is Response 1 / Response 2 / Tie\". Ensure that your decision aligns coherently with the comprehensive evaluation and comparison you've provided.",
])

# Auto-J bilingual 6B, Chinese single-response protocol.
AUTOJ_SINGLE_ZH = "\n".join([
    "为上传的针对给定用户问题的回应撰写评论, 并为该回复打分:",
    "",
    "[BEGIN DATA]",
    "***",
    "[用户问询]: {prompt}",
    "***",
    "[回应]: {response}",
    "***",
    "[END DATA]",
    "",
    "为这个回应撰写评论. 在这之后, 你应该按照如下格式给这个回应一个最终的1-10范围的评分: \"[[评分]]\", 例如: \"评分: [[5]]\".",
])

# Auto-J bilingual 6B, Chinese pairwise protocol.
AUTOJ_PAIRWISE_ZH = "\n".join([
    "你将要评价两个针对给定用户问题的回应，并判断哪个回应胜出或两者持平。以下是相关内容:",
    "",
    "[BEGIN DATA]",
    "***",
    "[用户问询]: {prompt}",
    "***",
    "[回应1]: {response}",
    "***",
    "[回应2]: {response_another}",
    "***",
    "[END DATA]",
    "",
    "以下是评价并比较两个回应的指南：",
    "",
    "1. 确定区分两个回应的关键因素。",
    "2. 通过提供最终对何者胜出或两者持平的决定来总结你的比较和评价。最终决定语句应以\"所以，最终决定是回应1/回应2/平局\"开头。确保你的决定与你提供的综合的评价和比较一致。",
])

# Ko-Bench single-v1 (seed 002), scale 0-10; reconstruction documented in PROTOCOLS.md.
KOBENCH_SINGLE = "\n".join([
    "[지시]",
    " 공정한 심판으로서 아래에 표시된 사용자 질문에 대한 AI 어시스턴트의 응답 품질을 평가해주세요. 질문과 대답의 언어가 동일하지 않으면 무조건 0점입니다. 평가에서는 응답의 유용성, 관련성, 정확성, 깊이, 창의성, 상세함 등의 요소를 고려해야 합니다. 평가를 시작하기 전에 짧은 설명을 제공하세요. 가능한 한 객관적으로 평가하세요. 설명을 제공한 후 다음 형식을 엄격히 따라 1점에서 10점 사이로 평가해야 합니다: \"[[rating]]\", 예를 들어: \"Rating: [[5]]\".",
    "",
    "[Question]",
    "{question}",
    "",
    "[어시스턴트 답변의 시작]",
    "{answer}",
    "[어시스턴트 답변의 끝]",
])

# Ko-Bench single-math-v1 (keval authors' scripts), with reference.
KOBENCH_MATH = "\n".join([
    "[지시]",
    "공정한 심판으로서 아래에 표시된 사용자 질문에 대한 AI 어시스턴트의 응답 품질을 평가해주세요. 질문과 대답의 언어가 동일하지 않으면 무조건 0점입니다. 평가는 정확성과 유용성을 고려해야 합니다. 참고 답변과 어시스턴트의 답변이 제공될 것입니다. 평가를 시작하기 위해 어시스턴트의 답변을 참고 답변과 비교하세요. 각 답변의 실수를 식별하고 수정하세요. 가능한 한 객관적으로 평가하세요. 설명을 제공한 후 다음 형식을 엄격히 따라 응답을 1점에서 10점 사이로 평가해야 합니다: \"[[rating]]\", 예를 들어: \"Rating: [[5]]\".",
    "",
    "[질문]",
    "{question}",
    "",
    "[참조 답변의 시작]",
    "{ref_answer_1}",
    "[참조 답변의 끝]",
    "",
    "[어시스턴트 답변의 시작]",
    "{answer}",
    "[어시스턴트 답변의 끝]",
])

# MT-Bench single-v1 (FastChat llm_judge).
MTBENCH_SINGLE = "\n".join([
    "[Instruction]",
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your evaluation by providing a short explanation. Be as objective as possible. After providing your explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: \"[[rating]]\", for example: \"Rating: [[5]]\".",
    "",
    "[Question]",
    "{question}",
    "",
    "[The Start of Assistant's Answer]",
    "{answer}",
    "[The End of Assistant's Answer]",
])
