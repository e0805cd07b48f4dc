"""Development-only tools: the OpenAI emulator, the local stack and the CLI. Never shipped."""
