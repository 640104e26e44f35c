"""The OpenAI-compatible HTTP judge backend: `backend.py` (requests, answer log-probabilities over HTTP)
and `options.py`; endpoint pools with retries live in `reward_judge.backends.http_pool`."""
