"""The in-process transformers judge backend: `backend.py` (loading, generation), `batching.py`
(batch plans and shared-prefix KV reuse), `logprobs.py` (teacher-forced answer log-probabilities)."""
