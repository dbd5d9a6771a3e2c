# Sourced by the .ci/*.sh provisioning scripts: one cached `pip install --target` per tool.
#
# pip_target TAG DIR SPEC CHECK [--no-deps]: installs SPEC into DIR unless the Python
# snippet CHECK already runs with PYTHONPATH=DIR; a half-finished install never replaces a
# good one (DIR.tmp, then mv). Progress goes to stderr, tagged [TAG].
pip_target() {
    local tag="$1" dir="$2" spec="$3" check="$4"; shift 4
    if ! PYTHONPATH="$dir" python3 -c "$check" >/dev/null 2>&1; then
        echo "[$tag] installing $spec into $dir" >&2
        rm -rf "$dir.tmp"
        python3 -m pip --disable-pip-version-check install -q "$@" --target "$dir.tmp" "$spec" >&2
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
        PYTHONPATH="$dir" python3 -c "$check" >/dev/null 2>&1 || { echo "[$tag] $spec does not import from $dir" >&2; exit 1; }
    fi
}
