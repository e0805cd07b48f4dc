"""Reference functions the benchmark measures ekmint against. Benchmark material, never shipped.

- `floor`: a hello-world on the same Powertools event handler, the least any such function costs.
- `naive`: the mint function a developer writes from OpenAI's and AWS's docs.

Each is a Lambda handler module (`lambda_handler`), run by bench/child.py with its own isolated
dependencies, as Lambda would.
"""
