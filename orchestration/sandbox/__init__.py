"""A local gateway (new-api and TokenLab dialects) with seeded demo data, for the demo, tests and
benchmarks. Nothing here is a real credential: these are the only values the sandbox accepts."""

SANDBOX_TOKEN = "sandbox-token"  # new-api system access token (Authorization: Bearer ...)
SANDBOX_USER_ID = "1"  # new-api New-Api-User header
SANDBOX_API_KEY = "sk-sandbox-key"  # new-api /api/log/token?key=...
TOKENLAB_TOKEN = "mt-sandbox-token"  # TokenLab management token
TOKENLAB_KEY_ID = "key_demo"  # TokenLab api key id in /v1/management/api-keys/{keyId}/usage
TOKENLAB_API_KEY = "sk-lab-sandbox-key"  # TokenLab API key (sk-) that created the tasks: GET /v1/tasks/{id}
