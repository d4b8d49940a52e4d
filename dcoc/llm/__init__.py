"""Language models behind one small interface, for the tree search's LLM proposer.

* :mod:`dcoc.llm.backend`: the :class:`~dcoc.llm.backend.Backend` protocol (a chat request with
  a JSON-schema constraint in, the answer text out) and the :class:`~dcoc.llm.backend.Verdict`
  of an answer;
* :mod:`dcoc.llm.choice_format`: the constraint of a "pick from this numbered list" answer as a
  JSON schema and as a llama.cpp grammar, and its parser and validator;
* :mod:`dcoc.llm.asking`: one such question asked and read, never raising for a bad model;
* :mod:`dcoc.llm.gguf`: the GGUF files that Python packages ship, found without importing them;
* :mod:`dcoc.llm.embedded`: llama.cpp in this process (``llama-cpp-python``), the default;
* :mod:`dcoc.llm.endpoint`: any OpenAI-compatible server (llama.cpp server, vLLM, Ollama, hosted);
* :mod:`dcoc.llm.settings`: which backend and model, from ``DCOC_LLM_*`` and the command line.

Nothing here imports the rest of dcoc.
"""
