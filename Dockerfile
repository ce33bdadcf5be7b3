# marketbot: slim image, non-root, state in /data. Build: docker build -t marketbot .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MARKETBOT_DATABASE_URL=sqlite+aiosqlite:////data/marketbot.db \
    MARKETBOT_CONFIG=/app/config/bot.yaml \
    MARKETBOT_WEB_HOST=0.0.0.0 \
    MPLCONFIGDIR=/app/.matplotlib \
    XDG_CACHE_HOME=/data/cache

WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY config ./config
RUN pip install -c constraints.txt ".[all]" \
    && python -c "from bot.market.charts import warm_up; warm_up()" \
    && groupadd --system --gid 10001 marketbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin marketbot \
    && mkdir -p /data \
    && chown marketbot:marketbot /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["marketbot", "health"]

CMD ["marketbot", "run"]
