"""Judge inference on any OpenAI-compatible server (vLLM, SGLang, llama.cpp, TGI, ``transformers serve``).

With the default ``endpoint="completions"`` the judge input rendered here (the preset's chat formatting,
with the judge's own tokenizer) is the prompt, so the judge reads exactly what it was trained on
whatever the server's chat handling is; it is sent as token ids where the server accepts them, else
as text in which untrusted special-token strings are made inert (see `reward_judge.special_tokens`).
``endpoint="chat"`` sends the judge messages to ``/v1/chat/completions`` and lets the server apply
its chat template (generate mode only: a chat answer has no answer slot to read probabilities at).

Score distributions (modes ``expected`` and ``direct``) use the completions API's log-probabilities of
one-token requests: every candidate answer is read by walking the candidates' token trie
(`reward_judge.backends.continuations.CandidateTrie`), one ``max_tokens=1`` read per trie node, in two
rounds: the contexts, then every deeper node at once, so a multi-token candidate (``10]]``, ``Response 1``)
costs one short read per further token, each extending a prompt the server has just run (its prefix cache
serves it). Where the server takes a list of token-id prompts (vLLM, SGLang) the reads of a round travel
many to a request (``prompts_per_request``), so the server schedules them together. Where the server returns the
log-probabilities of chosen token ids (vLLM's ``logprob_token_ids``) those are asked for; otherwise they
are read from the top-k, asked at most at the server's limit (learnt once from its refusal), and a
token outside the top-k is read from an echoed prompt. Servers disagree on how echoed
log-probabilities are aligned (llama-cpp-python 0.3 reports each prompt token's value from the row
that predicts the next token unless the prompt starts with BOS), so every echoed value is aligned
against the exact next-token distribution read at the same node before it is used.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
from typing import Any, Optional, Sequence, Union

from ...judge_input import JudgeInput, encode
from ...special_tokens import neutralized_text
from ..base import (ANSWER_LOGPROBS, BackendContext, BackendError, GenerationParams, JudgeBackend, LogprobsUnsupported,
                    config_context_length)
from ..continuations import CandidateTrie, NextTokenRead, candidate_tokens_all, record_round, trie_rounds
from ..http_pool import RETRY_STATUS, EndpointError, EndpointPool, LoopThread, RetryPolicy, normalize_urls
from .options import ENDPOINTS, PROMPT_FORMATS, OpenAIOptions, endpoint_capabilities

logger = logging.getLogger(__name__)

COMPLETIONS = "/v1/completions"
#: Statuses of a server that is busy, not refusing: they say nothing about the prompt formats it takes.
BUSY_STATUS = RETRY_STATUS - {500}
CHAT = "/v1/chat/completions"


class OpenAIBackend(JudgeBackend):
    """Sends judge inputs to one or more OpenAI-compatible servers, concurrently.

    Each judge input is one request, so the server batches them (continuous batching) and several
    ``base_url`` entries share the load; retries, failover and the circuit breaker live in
    `EndpointPool`. Greedy judging sends ``temperature=0``.

    Example:
        >>> from reward_judge import GenerativeRewardModel
        >>> rm = GenerativeRewardModel.from_pretrained(                           # doctest: +SKIP
        ...     "prometheus-eval/prometheus-7b-v2.0", backend="openai",
        ...     base_url=["http://judge-0:8000", "http://judge-1:8000"])
        >>> rm(["What is 2+2?"], ["4"])                                            # doctest: +SKIP
    """

    name = "openai"

    def __init__(
        self,
        base_url: Union[str, Sequence[str]],
        model: str,
        tokenizer: Any,
        *,
        api_key: Optional[str] = None,
        endpoint: str = "completions",
        prompt_format: str = "auto",
        timeout: float = 120.0,
        max_concurrency: int = 32,
        policy: Optional[RetryPolicy] = None,
        identity: Optional[str] = None,
        top_logprobs: int = 20,
        chosen_token_ids: bool = True,
        prompts_per_request: int = 64,
    ):
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint={endpoint!r} is not one of {ENDPOINTS}")
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt_format={prompt_format!r} is not one of {PROMPT_FORMATS}")
        if not model:
            raise ValueError(f"model must name the judge as the server knows it, got {model!r}")
        if tokenizer is None:
            raise ValueError("the OpenAI backend needs the judge's tokenizer (pass tokenizer=... or a judge id or path)")
        self.urls = normalize_urls(base_url)
        self.model = model
        self.endpoint = endpoint
        self.tokenizer = tokenizer
        self.applies_chat_template = endpoint == "chat"
        self.top_logprobs = top_logprobs
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.pool = EndpointPool(self.urls, timeout=timeout, policy=policy or RetryPolicy(),
                                 headers=headers, max_concurrency=max_concurrency)
        self.identity = identity or f"openai:{model}"
        if endpoint == "chat":
            self.identity += ":chat"
        self._prompt_format = None if prompt_format == "auto" else prompt_format
        self._runner: Optional[LoopThread] = None
        self._adds_specials: Optional[bool] = None
        #: Ask for chosen token ids' log-probabilities where the server returns them (found once, with the limit).
        self.chosen_token_ids = chosen_token_ids
        self._chosen_ids = False
        #: The most log-probabilities per position the server accepts, once a refusal named it (None: not seen).
        self._limit: Optional[int] = None
        self._logprobs_known = False
        self._discovery: Optional[asyncio.Lock] = None
        #: Trie reads sent in one request as a list of token-id prompts, where the server takes lists (found once).
        self.prompts_per_request = prompts_per_request
        self._prompt_lists = False
        #: One-token reads of answer trie walks (trie nodes), the HTTP requests that carried them, and echoed
        #: prompts read for tokens outside a node's top-k.
        self.trie_requests = 0
        self.trie_http_requests = 0
        self.echo_requests = 0

    @property
    def capabilities(self) -> frozenset[str]:
        return endpoint_capabilities(self.endpoint)

    def ensure(self, capability: str, mode: str) -> None:
        if capability == ANSWER_LOGPROBS:
            self.check_answer_logprobs(mode)

    def count_input_tokens(self, judge_input: JudgeInput) -> int:
        """The tokens the server reads: the token ids sent, or, for a text prompt, the server's tokenisation of the
        text with inert special-token strings (each zero-width mark adds tokens). Before the prompt format is
        known (``prompt_format="auto"`` asks the server at the first request) the larger of the two counts."""
        ids = None if self.endpoint == "chat" or self._prompt_format == "text" else len(encode(self.tokenizer, judge_input))
        if ids is not None and self._prompt_format == "token_ids":
            return ids
        text = neutralized_text(self.tokenizer, judge_input.text, judge_input.untrusted)
        inert = len(self.tokenizer(text, add_special_tokens=judge_input.add_special_tokens)["input_ids"])
        return inert if ids is None else max(ids, inert)

    # ----------------------------------------------------------------- plumbing
    def _run(self, coroutine: Any) -> Any:
        # A private loop thread: works from plain sync code and from inside a trainer's running loop.
        if self._runner is None:
            self._runner = LoopThread()
        return self._runner.run(coroutine)

    def discover_context_length(self) -> Optional[int]:
        """The context length the server runs the judge with (vLLM and SGLang report ``max_model_len`` in
        ``/v1/models``), or ``None`` when it names none or cannot be reached now.

        A server is often started with a shorter context than the model's own, and an input past it is refused
        (HTTP 400): knowing it lets the input-length policy cut the response to fit instead, so a policy cannot
        turn a long completion into a backend failure that escapes ``fallback="min"``.
        """
        try:
            response = self._run(self.pool.get("/v1/models"))
            entries = response.json().get("data") or []
        except Exception as exc:  # the server may start after the trainer: the judge's config is the fallback
            logger.info("could not read the judge server's /v1/models (%s)", exc)
            return None
        entries = [e for e in entries if isinstance(e, dict)]
        # the judge's own entry; a server that serves one model under another name: that one
        named = [e for e in entries if e.get("id") == self.model] or (entries if len(entries) == 1 else [])
        lengths = [e.get("max_model_len") for e in named]
        lengths = [n for n in lengths if isinstance(n, int) and not isinstance(n, bool) and n > 0]
        return min(lengths) if lengths else None

    def _adds_special_tokens(self) -> bool:
        if self._adds_specials is None:
            probe = "Judge"
            with_specials = self.tokenizer(probe, add_special_tokens=True)["input_ids"]
            self._adds_specials = with_specials != self.tokenizer(probe, add_special_tokens=False)["input_ids"]
        return self._adds_specials

    async def _prompt_format_now(self) -> str:
        """``"token_ids"`` when the server takes a list of token ids as prompt (asked once), else ``"text"``."""
        if self._prompt_format is None:
            probe = list(self.tokenizer("Hello", add_special_tokens=False)["input_ids"])
            policy = self.pool.policy
            for attempt in range(policy.max_attempts):
                try:
                    answer = await self.pool.post_json(COMPLETIONS, {"model": self.model, "prompt": probe,
                                                                     "max_tokens": 1, "temperature": 0.0},
                                                       attempts=len(self.pool.urls))  # each endpoint once
                    _choice_text(answer, COMPLETIONS)
                    self._prompt_format = "token_ids"
                    break
                except EndpointError as exc:
                    if exc.status is None:  # no answer at all: say nothing about the format yet
                        raise
                    # a busy server (429, 503...) says nothing about the format either: ask again, as the pool
                    # would; any other refusal (400, 422, llama-cpp-python's 500) is the answer: text prompts
                    if exc.status in BUSY_STATUS and attempt + 1 < policy.max_attempts:
                        await asyncio.sleep(policy.delay(attempt + 1, None))
                        continue
                    self._prompt_format = "text"
                    break
            logger.info("judge server %s takes %s prompts", self.urls[0],
                        "token-id" if self._prompt_format == "token_ids" else "text")
        return self._prompt_format

    async def _prompt(self, judge_input: JudgeInput, ids: Optional[list[int]] = None) -> Any:
        """The completions prompt for ``judge_input``: its token ids, or text the server cannot read as control tokens."""
        if await self._prompt_format_now() == "token_ids":
            return ids if ids is not None else encode(self.tokenizer, judge_input)
        return neutralized_text(self.tokenizer, judge_input.text, judge_input.untrusted)

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "max_tokens": params.max_new_tokens,
                                   "temperature": params.temperature if params.do_sample else 0.0}
        if params.do_sample:
            payload.update(top_p=params.top_p, seed=params.seed)
            if params.top_k:
                payload["top_k"] = params.top_k  # vLLM/SGLang extension; only sent when asked for
        if params.repetition_penalty != 1.0:
            payload["repetition_penalty"] = params.repetition_penalty  # vLLM/SGLang extension
        return payload

    async def _completion(self, judge_input: JudgeInput, payload: dict[str, Any], ids: Optional[list[int]] = None) -> Any:
        prompt = await self._prompt(judge_input, ids)
        payload = dict(payload, prompt=prompt)
        if isinstance(prompt, str) and not judge_input.add_special_tokens and self._adds_special_tokens():
            # A chat template already wrote BOS; vLLM/SGLang would add a second one to a text prompt. Only
            # sent when the tokenizer adds tokens at all: strict servers (transformers serve) reject the field.
            payload["add_special_tokens"] = False
        return await self.pool.post_json(COMPLETIONS, payload)

    # --------------------------------------------------------------- generation
    async def agenerate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        """Async `generate`: all inputs in flight at once (bounded by ``max_concurrency``)."""

        async def one(judge_input: JudgeInput) -> str:
            if self.endpoint == "chat":
                if judge_input.messages is None:
                    raise ValueError("endpoint='chat' needs judge messages; this input has only text")
                # the server applies its template and tokenises: special-token text from the rollout is made inert
                messages = [dict(m, content=neutralized_text(self.tokenizer, m["content"], spans))
                            for m, spans in judge_input.message_contents()]
                answer = await self.pool.post_json(CHAT, dict(self._sampling(params), messages=messages))
                return _choice_text(answer, CHAT)
            return _choice_text(await self._completion(judge_input, self._sampling(params)), COMPLETIONS)

        return list(await asyncio.gather(*(one(i) for i in inputs)))

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        return self._run(self.agenerate(inputs, params))

    # ------------------------------------------------------- answer distributions
    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        """The candidates' log-probabilities after each context: a walk of their token tries, one-token reads.

        The walk has two rounds (`trie_rounds`): every context's root read, then every deeper node of every
        context at once, each extending a prompt the server has just run (its prefix cache serves it; echo
        requests would skip vLLM's). Where the server takes lists of token-id prompts, a round's reads travel
        ``prompts_per_request`` to a request.
        """
        if self.endpoint == "chat":
            raise LogprobsUnsupported("endpoint='chat' cannot read answer log-probabilities; use endpoint='completions'")

        async def run() -> list[list[float]]:
            await self._discover_logprobs()
            rows = candidate_tokens_all(self.tokenizer, contexts, candidates)
            slots = [_slot_input(self.tokenizer, context, ids) for context, (ids, _) in zip(contexts, rows, strict=True)]
            tries = [CandidateTrie(ids, continuations) for ids, continuations in rows]
            for batch in trie_rounds(tries):
                record_round(tries, batch, await self._read_nodes([(slots[k], tries[k].context, read)
                                                                   for k, read in batch]))
            return [trie.totals() for trie in tries]

        return self._run(run())

    async def _read_nodes(self, nodes: list[tuple[JudgeInput, list[int], NextTokenRead]]) -> list[dict[int, float]]:
        """The next-token log-probabilities of each read's tokens, the reads grouped into requests (`_prompt_chunks`:
        many to a request where the server takes lists of prompts, else one each)."""
        size = self.prompts_per_request if self._prompt_lists else 1
        chunks = _prompt_chunks([read.tokens for _, _, read in nodes], size,
                                MAX_CHOSEN_IDS if self._chosen_ids else None)
        found = await asyncio.gather(*(self._read_chunk([nodes[k] for k in chunk]) for chunk in chunks))
        values: list[dict[int, float]] = [{} for _ in nodes]
        for chunk, answers in zip(chunks, found, strict=True):
            for k, answer in zip(chunk, answers, strict=True):
                values[k] = answer
        return values

    async def _read_chunk(self, nodes: list[tuple[JudgeInput, list[int], NextTokenRead]]) -> list[dict[int, float]]:
        """One-token reads of ``nodes`` in one completions request (several when chosen token ids outnumber what
        one request may ask for): the list of their token-id prompts, or the one node's prompt."""

        async def ask(payload: dict[str, Any]) -> list[Any]:
            self.trie_http_requests += 1
            if self._prompt_lists:
                answer = await self._logprobs_completion(None, dict(payload, prompt=[read.prompt for _, _, read in nodes]))
                return _each_choice(answer, len(nodes))
            (slot, context_ids, read), = nodes
            return [await self._logprobs_completion(self._node_input(slot, context_ids, read.prefix), payload,
                                                    ids=read.prompt)]

        self.trie_requests += len(nodes)
        payload: dict[str, Any] = {"model": self.model, "max_tokens": 1, "temperature": 0.0}
        if not self._chosen_ids:
            answers = await ask(dict(payload, logprobs=self._top_k()))
            return list(await asyncio.gather(*(self._from_top(one, *node)
                                               for one, node in zip(answers, nodes, strict=True))))
        # the server returns exactly the asked tokens (vLLM: logprob_token_ids, at most 128 per request, one list
        # for every prompt of the request)
        asked = list(dict.fromkeys(t for _, _, read in nodes for t in read.tokens))
        found: list[dict[int, float]] = [{} for _ in nodes]
        for start in range(0, len(asked), MAX_CHOSEN_IDS):
            part = asked[start:start + MAX_CHOSEN_IDS]
            in_part = frozenset(part)
            answers = await ask(dict(payload, logprobs=1, logprob_token_ids=part, return_tokens_as_token_ids=True))
            for values, one, (_, _, read) in zip(found, answers, nodes, strict=True):
                values.update(_token_id_logprobs(one, [t for t in read.tokens if t in in_part], self.urls[0]))
        return found

    async def _from_top(self, answer: Any, slot: JudgeInput, context_ids: list[int],
                        read: NextTokenRead) -> dict[int, float]:
        """``read``'s tokens from a one-token answer's top-k; a token outside it is read from an echoed prompt."""
        top = _top_logprobs(answer, 0)
        if not top:
            raise LogprobsUnsupported(f"the judge server at {self.urls[0]} answered without logprobs")
        found = {}
        for token in read.tokens:
            name = self._token_name(token)
            if name in top:
                found[token] = top[name]
            else:  # outside the server's top-k: its own log-probability from an echoed prompt
                found[token] = await self._echoed_token(slot, context_ids, read, token, top)
        return found

    def _node_input(self, slot: JudgeInput, context_ids: list[int], prefix: tuple[int, ...]) -> JudgeInput:
        """The judge input that ends after the candidate tokens ``prefix`` (for servers that take text prompts).

        Token-id prompts need no text (``ids`` are sent); for text the prefix's tokens are spelled out and
        checked to tokenise back to the same ids.
        """
        if not prefix or self._prompt_format == "token_ids":
            return slot
        base = self.tokenizer.decode(context_ids)
        spelled = self.tokenizer.decode(context_ids + list(prefix))
        node = slot.extend(spelled[len(base):])
        if not spelled.startswith(base) or encode(self.tokenizer, node) != context_ids + list(prefix):
            raise EndpointError(f"cannot spell the answer tokens {list(prefix)} as text after the judge input "
                                f"({spelled[len(base) - 20:]!r}); use a server that takes token-id prompts")
        return node

    async def _echoed_token(self, slot: JudgeInput, context_ids: list[int], read: NextTokenRead, token: int,
                            node_top: dict[str, float]) -> float:
        """The log-probability of ``token`` after ``read``'s prompt, from an echoed prompt ending with it.

        Only for a token outside the top-k of its node: echo reads prompt log-probabilities, which costs a full
        prefill (vLLM serves no prompt log-probabilities from its prefix cache), and some servers report
        echoed rows one position late (see `_echoed_continuation`).
        """
        name = self._token_name(token)
        full = self._node_input(slot, context_ids, read.prefix + (token,))
        # A longer list than the node's: on a server that reports echoed rows one position late the token is
        # read from the row that gave the node's top-k, where it is missing at that length by construction; and
        # the alignment check needs the node's top-k inside the echoed rows.
        top_k = min(max(10 * self._top_k(), 20), self._limit or MAX_ECHO_TOP_LOGPROBS, MAX_ECHO_TOP_LOGPROBS)
        while True:
            self.echo_requests += 1
            answer = await self._logprobs_completion(
                full, {"model": self.model, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": top_k},
                ids=read.prompt + [token])
            try:
                return _echoed_continuation(answer, [name], node_top, self.urls[0], top_k)
            except OutsideTopK:
                # a server that reports echoed rows one position late has the token's log-probability only in the
                # previous row's top-k: ask again for a longer list, never above the server's limit
                longer = min(MAX_ECHO_TOP_LOGPROBS, top_k * 10, self._limit or MAX_ECHO_TOP_LOGPROBS)
                if longer <= top_k:
                    raise
                top_k = longer
                logger.info("answer token %r is outside the echoed top-k: asking again with logprobs=%d", name, top_k)

    def _top_k(self) -> int:
        """Log-probabilities asked per position: ``top_logprobs``, never above the server's discovered limit."""
        return min(self.top_logprobs, self._limit) if self._limit else self.top_logprobs

    async def _logprobs_completion(self, judge_input: Optional[JudgeInput], payload: dict[str, Any],
                                   ids: Optional[list[int]] = None) -> Any:
        """A completions request with ``logprobs``; a refusal naming the server's limit lowers it to that limit.

        ``judge_input`` None: the payload already holds its prompt (a list of token-id prompts).

        The limit is remembered: no later request asks above it. A refusal that names no number halves the
        request down to 1 (then the refusal stands).
        """
        while True:
            if self._limit is not None and payload["logprobs"] > self._limit:
                payload = dict(payload, logprobs=self._limit)
            try:
                if judge_input is None:
                    return await self.pool.post_json(COMPLETIONS, payload)
                return await self._completion(judge_input, payload, ids=ids)
            except EndpointError as exc:
                lower = _refused_logprobs_limit(exc, payload["logprobs"])
                if lower is None:
                    raise
                logger.info("judge server %s refused logprobs=%d: asking at most %d from now on", self.urls[0],
                            payload["logprobs"], lower)
                self._limit = lower

    async def _discover_logprobs(self) -> None:
        """Once: that the server returns log-probabilities (and its limit), and whether it returns chosen token ids."""
        if self._logprobs_known:
            return
        async with self._discovery_lock():
            if self._logprobs_known:
                return
            payload = {"model": self.model, "max_tokens": 1, "temperature": 0.0, "logprobs": self._top_k()}
            answer = await self._logprobs_completion(JudgeInput("Hello"), payload)
            if not _top_logprobs(answer, 0):
                raise LogprobsUnsupported(f"the judge server at {self.urls[0]} answered without logprobs")
            self._chosen_ids = self.chosen_token_ids and await self._takes_chosen_ids()
            self._prompt_lists = (self.prompts_per_request > 1 and await self._prompt_format_now() == "token_ids"
                                  and await self._takes_prompt_lists())
            self._logprobs_known = True
            logger.info("judge server %s: logprobs up to %s, %s, %s", self.urls[0],
                        self._limit or f">= {self._top_k()}",
                        "chosen token ids (logprob_token_ids)" if self._chosen_ids else "top-k only",
                        f"up to {self.prompts_per_request} prompts per request" if self._prompt_lists
                        else "one prompt per request")

    def _discovery_lock(self) -> asyncio.Lock:
        if self._discovery is None:
            self._discovery = asyncio.Lock()
        return self._discovery

    async def _takes_chosen_ids(self) -> bool:
        """Whether the server returns the log-probabilities of asked token ids (vLLM's ``logprob_token_ids``)."""
        probe = list(dict.fromkeys(self.tokenizer("Hello world", add_special_tokens=False)["input_ids"]))[:2]
        payload = {"model": self.model, "max_tokens": 1, "temperature": 0.0, "logprobs": 1, "logprob_token_ids": probe,
                   "return_tokens_as_token_ids": True}
        try:
            answer = await self.pool.post_json(COMPLETIONS, dict(payload, prompt=await self._prompt(JudgeInput("Hi"))),
                                               attempts=1)
            _token_id_logprobs(answer, probe, self.urls[0])
        except EndpointError as exc:
            logger.debug("judge server %s does not return chosen token ids: %s", self.urls[0], exc)
            return False
        return True

    async def _takes_prompt_lists(self) -> bool:
        """Whether the server answers a list of token-id prompts with one choice per prompt, in order (vLLM, SGLang)."""
        probes = [list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in ("Hello", "Hi there")]
        try:
            answer = await self.pool.post_json(COMPLETIONS, {"model": self.model, "prompt": probes, "max_tokens": 1,
                                                             "temperature": 0.0}, attempts=1)
            _each_choice(answer, len(probes))
        except EndpointError as exc:
            logger.debug("judge server %s does not take lists of prompts: %s", self.urls[0], exc)
            return False
        return True

    def _token_name(self, token_id: int) -> str:
        """The text a server reports for one token (its decoded piece)."""
        return self.tokenizer.decode([token_id])

    def check_answer_logprobs(self, mode: str) -> None:
        """Raise `LogprobsUnsupported` (naming this backend and ``mode``) unless the server returns log-probabilities.

        This also learns the server's logprobs limit and whether it returns chosen token ids (once).
        """
        if self._logprobs_known:
            return
        try:
            self._run(self._discover_logprobs())
        except EndpointError as exc:
            if exc.status is None:  # no server answered: nothing is known yet; requests will count their failures
                logger.warning("could not reach the judge server at %s to check that it returns logprobs for mode=%r: %s",
                               self.urls[0], mode, exc)
                return
            raise LogprobsUnsupported(
                f"backend 'openai' cannot serve mode={mode!r}: the judge server at {self.urls[0]} refused a logprobs "
                f"request ({exc}). Score-distribution modes need a server that returns logprobs (vLLM, SGLang, "
                "llama.cpp); use mode='generate' with this server.") from exc
        except LogprobsUnsupported as exc:
            raise LogprobsUnsupported(
                f"backend 'openai' cannot serve mode={mode!r}: the judge server at {self.urls[0]} answered without "
                "logprobs. Score-distribution modes need a server that returns them (vLLM, SGLang, llama.cpp); use "
                "mode='generate' with this server.") from exc

    def close(self) -> None:
        if self._runner is not None:
            self._runner.run(self.pool.aclose())
            self._runner.close()
            self._runner = None


def _slot_input(tokenizer: Any, context: JudgeInput, context_ids: list[int]) -> JudgeInput:
    """The context cut to the tokens shared by every candidate (it may end before a trailing space)."""
    full = encode(tokenizer, context)
    if full == context_ids:
        return context
    decoded = tokenizer.decode(context_ids)
    plain = tokenizer.decode(full)
    # the slot's text is the context's text minus what its dropped last tokens spelled
    cut = len(context.text) - (len(plain) - len(decoded))
    if not plain.startswith(decoded) or not context.text[cut:] == plain[len(decoded):]:
        raise BackendError(f"cannot cut the judge input at its answer slot: {context.text[-40:]!r}")
    spans = tuple((a, min(b, cut)) for a, b in context.untrusted if a < cut)
    return JudgeInput(context.text[:cut], spans, None, context.add_special_tokens)


def _choice_text(answer: Any, path: str) -> str:
    try:
        choice = answer["choices"][0]
        if path == CHAT:
            return choice["message"]["content"] or ""
        return choice["text"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"{path} answered without choices[0] text: {str(answer)[:300]}") from exc


def _each_choice(answer: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` choices of an answer to a list of prompts, in prompt order, each as a one-choice answer."""
    try:
        choices = sorted(answer["choices"], key=lambda c: c["index"])
        indices = [c["index"] for c in choices]
    except (KeyError, TypeError) as exc:
        raise EndpointError(f"{COMPLETIONS} answered a list of prompts without indexed choices: {str(answer)[:300]}") from exc
    if indices != list(range(n)):
        raise EndpointError(f"{COMPLETIONS} answered {n} prompts with choices {indices[:10]}, not one per prompt")
    return [{"choices": [choice]} for choice in choices]


def _prompt_chunks(tokens: Sequence[Sequence[int]], size: int, max_tokens: Optional[int]) -> list[list[int]]:
    """Indices of the reads grouped into requests: at most ``size`` reads, and, when ``max_tokens`` is set, at most
    that many distinct asked tokens in one request (chosen token ids are one list for every prompt of a request);
    a read that asks for more than ``max_tokens`` alone gets a group of its own (`_read_chunk` splits its tokens).

    Example:
        >>> _prompt_chunks([(1,), (1, 2), (3,), (4,)], 3, None), _prompt_chunks([(1,), (1, 2), (3,), (4,)], 3, 2)
        ([[0, 1, 2], [3]], [[0, 1], [2, 3]])
        >>> _prompt_chunks([(1,), (2, 3, 4), (5,)], 8, 2)
        [[0], [1], [2]]
    """
    chunks: list[list[int]] = []
    asked: set[int] = set()
    for k, read in enumerate(tokens):
        grown = asked | set(read)
        if chunks and len(chunks[-1]) < size and (max_tokens is None or len(grown) <= max_tokens):
            chunks[-1].append(k)
            asked = grown
        else:
            chunks.append([k])
            asked = set(read)
    return chunks


def _logprobs_block(answer: Any) -> dict[str, Any]:
    try:
        return answer["choices"][0].get("logprobs") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise EndpointError(f"{COMPLETIONS} answered with malformed logprobs: {str(answer)[:300]}") from exc


def _top_logprobs(answer: Any, index: int) -> dict[str, float]:
    """The top log-probabilities at position ``index`` of a completions answer (``{}`` when absent)."""
    top = _logprobs_block(answer).get("top_logprobs") or []
    if index >= len(top) or not top[index]:
        return {}
    return {str(token): float(value) for token, value in top[index].items()}


def _distance(a: dict[str, float], b: Optional[dict[str, float]]) -> float:
    """Mean absolute difference over the tokens two top-k maps share (inf when they share fewer than 2)."""
    if not b:
        return math.inf
    shared = [t for t in a if t in b]
    if len(shared) < min(2, len(a)):
        return math.inf
    return sum(abs(a[t] - b[t]) for t in shared) / len(shared)


#: Most token ids one request may ask log-probabilities for with ``logprob_token_ids`` (vLLM's cap).
MAX_CHOSEN_IDS = 128

_LIMIT_IN_MESSAGE = re.compile(r"max(?:imum)?(?:\s+allowed)?\D{0,12}?(\d+)", re.IGNORECASE)


def _refused_logprobs_limit(exc: EndpointError, asked: int) -> Optional[int]:
    """The lower ``logprobs`` to ask after ``exc`` refused ``asked``: the limit its message names, else half.

    None when ``exc`` is no refusal of the logprobs count (or nothing lower is left to ask).

    Example:
        >>> refused = EndpointError('HTTP 400: {"error":{"message":"Requested sample logprobs of 21, which is '
        ...                         'greater than max allowed: 20 (parameter=logprobs, value=21)"}}', 400)
        >>> _refused_logprobs_limit(refused, 21), _refused_logprobs_limit(EndpointError("HTTP 400: logprobs", 400), 8)
        (20, 4)
    """
    message = str(exc)
    if exc.status != 400 or "logprob" not in message.lower():
        return None
    named = [int(n) for n in _LIMIT_IN_MESSAGE.findall(message)]
    lower = next((n for n in named if 1 <= n < asked), None)
    if lower is None and asked > 1:
        lower = asked // 2
    return lower


def _token_id_logprobs(answer: Any, tokens: Sequence[int], url: str) -> dict[int, float]:
    """``{token id: log-probability}`` of ``tokens`` from an answer with ``return_tokens_as_token_ids``."""
    top = _top_logprobs(answer, 0)
    found = {int(key.split(":", 1)[1]): value for key, value in top.items()
             if key.startswith("token_id:") and key[9:].lstrip("-").isdigit()}
    missing = [t for t in tokens if t not in found]
    if missing:
        raise EndpointError(f"the judge server at {url} did not return the log-probabilities of token ids {missing} "
                            f"it was asked for (keys {sorted(top)[:5]})")
    return {t: found[t] for t in tokens}


MAX_ECHO_TOP_LOGPROBS = 2000
"""Longest top-k list asked for when echoed log-probabilities sit one row late (see `OutsideTopK`)."""

ECHO_ALIGNMENT_TOLERANCE = 0.5
"""Largest mean |difference| (nats) between a node's next-token read and the echoed row taken to predict it."""


class OutsideTopK(EndpointError):
    """An echoed answer token is missing from the only row that holds its log-probability."""


def _echoed_continuation(answer: Any, names: Sequence[str], first: dict[str, float], url: str, top_k: int) -> float:
    """Sum of the prompt log-probabilities of the continuation ``names`` at the end of an echoed prompt."""
    block = _logprobs_block(answer)
    tokens = [str(t) for t in block.get("tokens") or []]
    values = block.get("token_logprobs") or []
    tops = block.get("top_logprobs") or []
    m = len(names)
    # the continuation closes the prompt; at most the one generated token follows it
    start = next((j for j in (len(tokens) - m - 1, len(tokens) - m) if j >= 0 and tokens[j:j + m] == list(names)), None)
    if start is None:
        raise EndpointError(f"the judge server at {url} tokenised the answer {''.join(names)!r} differently from the "
                            f"judge's tokenizer (echoed tokens end with {tokens[-m - 1:]!r})")
    # Which row predicts the continuation's first token: the echoed position itself, or the one before it.
    aligned, shifted = _distance(first, tops[start] if start < len(tops) else None), \
        _distance(first, tops[start - 1] if start >= 1 else None)
    # The node's own read (a one-token request, served from the server's prefix cache) and the echoed prefill are
    # different kernels: llama.cpp's differ by up to about 0.15 nats here. The wrong alignment is another
    # position's distribution (other tokens, or the same ones at whole nats apart), so the check is which row is
    # clearly the closer one, and that it is close.
    best, other = sorted((aligned, shifted))
    if best > ECHO_ALIGNMENT_TOLERANCE or (math.isfinite(other) and other < 2 * best):
        raise EndpointError(f"the judge server at {url} returned echoed log-probabilities that match neither "
                            "alignment of its own next-token log-probabilities (mean |difference| over their shared "
                            f"top tokens: {aligned:.3f} at the echoed row, {shifted:.3f} one row earlier); cannot read "
                            "multi-token answers")
    total = 0.0
    for m_i, name in enumerate(names):
        j = start + m_i
        if aligned <= shifted:
            value = values[j]
        else:
            row = tops[j - 1] or {}
            value = row.get(name)
            if value is None:
                raise OutsideTopK(
                    f"the judge server at {url} reports echoed log-probabilities one position late (llama-cpp-python), "
                    f"and answer token {name!r} is outside its top-{top_k} there: raise top_logprobs")
        if value is None:
            raise EndpointError(f"the judge server at {url} gave no log-probability for echoed token {name!r}")
        total += float(value)
    return total



def load(context: BackendContext, options: OpenAIOptions) -> OpenAIBackend:
    """The registry's loader: only the judge's tokenizer is loaded here; the model runs on the server.

    The judge's name (or its folder, for the embedded judge) is the model name sent to the server unless
    ``options.model`` says otherwise.
    """
    from transformers import AutoTokenizer

    from ...extras import require_extra

    require_extra("serve", "httpx", feature="backend='openai'")
    if not options.base_url:
        raise ValueError("backend='openai' needs base_url: the judge server's URL, e.g. 'http://127.0.0.1:8000'")
    source = context.tokenizer_source
    tokenizer = AutoTokenizer.from_pretrained(source, revision=context.revision if source == context.model else None,
                                              trust_remote_code=context.trust_remote_code)
    api_key = os.environ.get(options.api_key_env) if options.api_key_env else None
    model = options.model or context.model
    backend = OpenAIBackend(
        options.base_url, model, tokenizer, api_key=api_key, endpoint=options.endpoint,
        prompt_format=options.prompt_format, timeout=options.request_timeout,
        max_concurrency=options.max_concurrency, policy=RetryPolicy(max_attempts=options.max_retries + 1),
        identity=f"openai:{context.identity or model}", top_logprobs=options.top_logprobs,
        chosen_token_ids=options.chosen_token_ids, prompts_per_request=options.prompts_per_request,
    )
    backend.context_length = backend.discover_context_length() or config_context_length(context)
    if backend.context_length is None:
        logger.warning("the judge server's context length is unknown (its /v1/models names no max_model_len and the "
                       "judge's config none): inputs are not cut to fit, and one the server refuses as too long is "
                       "a backend failure, not the rollout's; set max_input_tokens")
    return backend

