# pyscheduler's image: `docker build -t pyscheduler:0.1.0 .` (manifests/ runs it).
#
# Two stages: the first builds the wheel from the source tree, the second installs that wheel
# and its pinned dependencies into a virtualenv on a slim base and runs as a non-root user.
# No compiler reaches the final image. hack/check-wheel.sh (`make wheel-check`, part of
# `make test`) runs the same steps without a container engine: build the wheel, install it into
# a fresh virtualenv, `pyscheduler version`, and validate the shipped ConfigMap's profile.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pyscheduler ./pyscheduler
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/pyscheduler/bin:$PATH
COPY --from=build /wheels /wheels
RUN python -m venv /opt/pyscheduler \
 && /opt/pyscheduler/bin/pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
 && /opt/pyscheduler/bin/pyscheduler version
# The uid/gid the Deployment's securityContext names (runAsUser: 65532); no shell login, no home.
RUN groupadd --system --gid 65532 pyscheduler \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin pyscheduler
USER 65532:65532
EXPOSE 10259
ENTRYPOINT ["pyscheduler"]
CMD ["run"]
