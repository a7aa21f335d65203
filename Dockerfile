# The one image of gim-faust: GCA, GSP and GIM are `gim-faust gca run`, `gim-faust gsp worker`
# and `gim-faust gim worker` of the same image (the chart and docker-compose.yml pass the
# command). Build: docker build -t gim-faust .
#
# Stage 1 builds the wheel; stage 2 installs it into a virtual environment with
# scripts/image-install.sh, the same script CI runs on every change (no image is built there).

FROM python:3.11-slim-bookworm AS build
# Not /src: setuptools would take a directory named src for a src layout.
WORKDIR /gim-faust
COPY pyproject.toml README.md ./
COPY gim_faust ./gim_faust
COPY tables ./tables
COPY transforms ./transforms
COPY loaders ./loaders
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# No .pyc writes (the root filesystem is read-only in Kubernetes), logs unbuffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/gim-faust/bin:$PATH \
    GIM_STATE_DIR=/var/lib/gim-faust/state \
    TMPDIR=/tmp
COPY --from=build /wheels /wheels
COPY scripts/image-install.sh /usr/local/bin/image-install.sh
RUN PIP_NO_CACHE_DIR=1 sh /usr/local/bin/image-install.sh /wheels /opt/gim-faust \
    && rm -rf /wheels /usr/local/bin/image-install.sh \
    && groupadd --system --gid 10001 gim \
    && useradd --system --uid 10001 --gid gim --home-dir /var/lib/gim-faust --no-create-home gim \
    && mkdir -p /var/lib/gim-faust/state \
    && chown -R 10001:10001 /var/lib/gim-faust
# Numeric, so Kubernetes can check runAsNonRoot without resolving the name.
USER 10001:10001
WORKDIR /var/lib/gim-faust
EXPOSE 9250 9249 8249
ENTRYPOINT ["gim-faust"]
CMD ["--help"]
