# The deployable API image: the serving image plus the DVC-built model bundle (used by cd.yml,
# where `make pipeline` has just produced models/bundle). Locally, mount the bundle instead.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY --chown=app:app models/bundle/ /app/models/bundle/
