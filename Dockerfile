# audit-graph: the GraphQL API, with the embedded PostgreSQL when no database URL is given.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 audit
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph ./graph
RUN pip install --no-cache-dir .

USER audit
# Listening beyond loopback requires AUDIT_GRAPH_TOKENS (or AUDIT_GRAPH_TOKENS_FILE):
#   docker run -e AUDIT_GRAPH_TOKENS='s3cret:read+write+admin' -p 8000:8000 audit-graph
ENV AUDIT_GRAPH_HOST=0.0.0.0 \
    AUDIT_GRAPH_PORT=8000 \
    AUDIT_GRAPH_DATA_DIR=/home/audit/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["audit-graph", "serve"]
