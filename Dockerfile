# batch-mcp in Streamable HTTP mode: docker run -p 8000:8000 -e BATCH_MCP_TOKEN=... [-e AZURE_BATCH_*] batch-mcp
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 batch
WORKDIR /app
COPY pyproject.toml README.md ./
COPY batch_mcp ./batch_mcp
COPY tool_schemas ./tool_schemas
RUN pip install --no-compile . && rm -rf /app/batch_mcp /app/tool_schemas

USER batch
# Listening on all interfaces inside the container: a token is required (BATCH_MCP_TOKEN) and Host
# headers are checked against BATCH_MCP_ALLOWED_HOSTS (the names clients use to reach the container).
ENV BATCH_MCP_TRANSPORT=http BATCH_MCP_HOST=0.0.0.0 BATCH_MCP_PORT=8000 BATCH_MCP_ALLOWED_HOSTS=localhost,127.0.0.1
EXPOSE 8000
ENTRYPOINT ["batch-mcp"]
