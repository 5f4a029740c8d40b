# One image for training and serving: SageMaker runs it as `<image> train` (training jobs) and
# `<image> serve` (endpoints, port 8080); EKS Jobs and Deployments run the same commands.
FROM python:3.12-slim

WORKDIR /opt/tenantml
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

COPY pyproject.toml README.md ./
COPY core ./core
COPY tenantml ./tenantml
COPY infra ./infra
COPY stacks ./stacks
COPY pipelines ./pipelines
COPY lambdas ./lambdas
RUN pip install --no-cache-dir '.[onnx]'

EXPOSE 8080
ENTRYPOINT ["python", "-m", "pipelines.container"]
CMD ["serve"]
