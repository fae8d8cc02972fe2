# netfeed: one image for every service (collectors, applications, topics, the
# simulator); the command picks the role.  Dependencies at the versions the
# tests ran with (requirements.lock), installed from wheels built in a first
# stage, so the final image has no compiler and no build cache.
#   docker build -t netfeed:local .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY bus bus
COPY collectors collectors
COPY applications applications
COPY netfeed netfeed
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/netfeed netfeed \
    && mkdir -p /srv/netfeed/configs /srv/netfeed/var \
    && chown -R netfeed /srv/netfeed/var
COPY --from=build /wheels /wheels
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/requirements.lock netfeed \
    && rm -rf /wheels /tmp/requirements.lock
USER netfeed
# configs are mounted read-only at /srv/netfeed/configs; relative paths in them
# (../var/...) land in the writable volume /srv/netfeed/var
WORKDIR /srv/netfeed
VOLUME ["/srv/netfeed/var"]
ENTRYPOINT ["netfeed"]
CMD ["--help"]
