#!/bin/sh
# cdktf.json's "app": cdktf runs it through a shell in the project directory. A bare `python`
# there is whatever is first on PATH (rarely the project's environment), so pick the Python that
# has tenantml installed: the activated virtual environment, else the README's `.venv`.
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    python="$VIRTUAL_ENV/bin/python"
elif [ -x .venv/bin/python ]; then
    python=.venv/bin/python
else
    echo "cdktf app: no Python environment with tenantml: install it as the README says" \
         "(the README's install command: python3 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements/runtime.lock && .venv/bin/pip install --no-deps -e .) or activate the virtual environment it is in" >&2
    exit 2
fi
exec "$python" -m stacks.app "$@"
