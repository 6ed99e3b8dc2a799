#!/usr/bin/env bash
# The sandbox, tampering, unprivileged-grading and collect tests, and the demo (the same grades as root's), as a
# user who is not root (.ci/run runs it as root after the suite). As root: makes the user if missing
# (AUTOGRADER_TEST_USER, default autograder-test), lets it reach the checkout and the venv's Python (o+x
# on the folders in the way, said here), gives it a HOME and TMPDIR of its own, and runs the tests as
# it. As any other user: runs them as that user. Extra arguments go to pytest. What the kernel refuses
# that user is skipped, with why.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"  # useradd, runuser (a plain PATH may lack them)
checkout=$(pwd)
python=$checkout/.venv/bin/python
tests=(tests/test_sandbox.py tests/test_tampering.py tests/test_attacks.py tests/test_unprivileged.py tests/test_collect.py tests/test_demo.py)

if [ "$(id -u)" != 0 ]; then
    exec "$python" -m pytest -p no:cacheprovider "${tests[@]}" "$@"
fi

user=${AUTOGRADER_TEST_USER:-autograder-test}
id -u "$user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"

# Every folder above the checkout and above the venv's real interpreter must be passable (o+x).
base=$("$python" -c 'import sys; print(sys.base_prefix)')
for target in "$checkout" "$base" "$(readlink -f "$python")"; do
    dir=$target
    while [ "$dir" != / ]; do
        dir=$(dirname "$dir")
        if [ -d "$dir" ] && [ $(( 0$(stat -c %a "$dir") & 1 )) = 0 ]; then
            echo "run_as_user: chmod o+x $dir (so that $user reaches $target)"
            chmod o+x "$dir"
        fi
    done
done

home=$(mktemp -d /tmp/autograder-test-home.XXXXXX)
trap 'rm -rf "$home"' EXIT
chown "$user:" "$home"
echo "run_as_user: ${tests[*]} as $user (uid $(id -u "$user")), HOME=$home"
runuser -u "$user" -- env HOME="$home" TMPDIR="$home" PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -p no:cacheprovider -n 2 --dist loadfile --basetemp="$home/pytest" "${tests[@]}" "$@"
