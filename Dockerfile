# batch-mcp over Streamable HTTP on port 8000:
#   docker run -p 8000:8000 -e BATCH_MCP_TOKEN=... [-e AZURE_BATCH_ENDPOINT=... -e AZURE_BATCH_*] batch-mcp
# Inside the container it listens on all interfaces, so clients must authenticate: a bearer token
# (BATCH_MCP_TOKEN) or Microsoft Entra ID sign-in (BATCH_MCP_HTTP_AUTH=entra, see the README); Host
# headers are checked against BATCH_MCP_ALLOWED_HOSTS, the names clients use to reach the container.
# tests/install/test_image.py installs and starts this image's way in a fresh virtual environment.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 batch
WORKDIR /app
COPY pyproject.toml README.md ./
COPY batch_mcp ./batch_mcp
COPY tool_schemas ./tool_schemas
RUN pip install --no-cache-dir --no-compile . && rm -rf /app/batch_mcp /app/tool_schemas

USER 10001
ENV BATCH_MCP_TRANSPORT=http BATCH_MCP_HOST=0.0.0.0 BATCH_MCP_PORT=8000 BATCH_MCP_ALLOWED_HOSTS=localhost,127.0.0.1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 CMD ["python", "-m", "batch_mcp.healthcheck"]
ENTRYPOINT ["batch-mcp"]
