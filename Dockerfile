# One image for training and serving: SageMaker runs it as `<image> train` (training jobs) and
# `<image> serve` (endpoints, port 8080); EKS Jobs and Deployments run the same commands.
FROM python:3.12-slim

WORKDIR /opt/tenantml
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

# the locked, hash-checked dependencies first: a code change does not reinstall them
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY tenantml ./tenantml
COPY infra ./infra
COPY stacks ./stacks
COPY pipelines ./pipelines
COPY lambdas ./lambdas
RUN pip install --no-cache-dir --no-deps .

EXPOSE 8080
ENTRYPOINT ["python", "-m", "pipelines.container"]
CMD ["serve"]
