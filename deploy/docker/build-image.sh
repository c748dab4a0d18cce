#!/usr/bin/env bash
# Builds Dawn's container image from the Dockerfile at the repository's root, as dawn:latest:
# the image docker-compose.yml and deploy/kubernetes/ run. See docs/deploy.md.
#
# Crates: the Dockerfile's build stage fetches them from crates.io, unless the build context
# has a non-empty vendor/, from which it then builds offline. Whether containers can reach
# crates.io is checked first, in a few seconds: a throwaway container of the Rust build
# image fetches one small crate. When that fails (no route, or a TLS-intercepting proxy
# whose CA the image does not trust: "SSL certificate problem: self-signed certificate in
# certificate chain"), the dependencies are vendored on this host (`cargo vendor --locked
# vendor`, which needs cargo and the crates, cached or from crates.io) and the build uses
# them. A vendor/ that exists is always refreshed and used (delete it to build from
# crates.io); vendor/ is in .gitignore.
#
# Also tags the build stage as dawn:build-cache, so the compiled dependencies survive the
# removal of untagged images of earlier builds, which follows every successful build.
# Builds with --rm --force-rm; when a build fails or is interrupted, the stopped containers
# and untagged images it left are removed, and one line says so.
#
# Needs the base images the Dockerfile names: they are pulled when missing; where nothing
# can be pulled, make them first with deploy/docker/local-base-images.sh.
#
# Usage: deploy/docker/build-image.sh [--vendor | --no-vendor] [--tag NAME] [--help]
#   --vendor      vendor without checking (e.g. a machine known to need it)
#   --no-vendor   never vendor; refuses when vendor/ exists, since the build would use it
#   --tag NAME    the image's name (default dawn:latest)
# Environment: DOCKER (default docker).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
me="build-image.sh"

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

mode=auto
tag=dawn:latest
while [ $# -gt 0 ]; do
    case "$1" in
        --vendor) mode=vendor ;;
        --no-vendor) mode=network ;;
        --tag)
            [ $# -ge 2 ] || { echo "$me: --tag needs a NAME" >&2; exit 64; }
            tag="$2"
            shift
            ;;
        --tag=*) tag="${1#--tag=}" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "$me: unknown argument '$1' (try --help)" >&2; exit 64 ;;
    esac
    shift
done

say() { printf '==> %s\n' "$*"; }
reported=false
die() {
    printf '%s: FAILED: %s\n' "$me" "$*" >&2
    reported=true
    exit 1
}

docker="${DOCKER:-docker}"
build_cache_tag=dawn:build-cache
started=$SECONDS
probe_name="dawn-crates-probe-$$"
containers_before=""
dangling_before=""
building=false

# On any exit: the crates probe's container goes; after a build that did not finish, what it
# left goes too; a failure always ends with one line saying so.
cleanup() {
    local status=$?
    "$docker" rm --force "$probe_name" >/dev/null 2>&1 || true
    if $building; then
        building=false
        local removed
        removed="$(remove_leftovers)"
        printf '%s: FAILED: the image build did not finish (docker build output above); %s\n' \
            "$me" "$removed" >&2
        [ "$status" -ne 0 ] || status=1
    elif [ "$status" -ne 0 ] && ! $reported; then
        printf '%s: FAILED (exit %s; output above)\n' "$me" "$status" >&2
    fi
    rm -f "$containers_before" "$dangling_before"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v "$docker" >/dev/null || die "'$docker' is not installed"
"$docker" info >/dev/null 2>&1 \
    || die "cannot talk to the Docker engine: is it running, and may this user use it (root, or a member of the docker group)?"

# --- base images -----------------------------------------------------------------------
arg_default() { sed -n "s/^ARG $1=\\(.*\\)\$/\\1/p" "$repo/Dockerfile" | head -1; }
rust_image="$(arg_default RUST_IMAGE)"
runtime_image="$(arg_default RUNTIME_IMAGE)"
if [ -z "$rust_image" ] || [ -z "$runtime_image" ]; then
    die "cannot read the RUST_IMAGE and RUNTIME_IMAGE defaults from $repo/Dockerfile"
fi
for image in "$rust_image" "$runtime_image"; do
    "$docker" image inspect "$image" >/dev/null 2>&1 && continue
    say "$image: not present, pulling"
    "$docker" pull --quiet "$image" >/dev/null 2>&1 \
        || die "the base image $image is not present and cannot be pulled: make it with deploy/docker/local-base-images.sh (as root)"
done

# --- crates: from crates.io inside the build, or vendored on this host --------------------
# Whether a container of the Rust build image can fetch a crate from crates.io. On failure,
# prints cargo's last error line.
crates_reachable() {
    local out
    if out="$("$docker" run --rm --name "$probe_name" --env CARGO_HTTP_TIMEOUT=20 \
        --env CARGO_NET_RETRY=1 --env CARGO_TERM_COLOR=never "$rust_image" sh -c '
            set -e
            mkdir -p /tmp/probe/src && cd /tmp/probe
            printf "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\n" > Cargo.toml
            : > src/lib.rs
            timeout 120 cargo fetch --quiet' 2>&1)"; then
        return 0
    fi
    printf '%s\n' "$out" | sed -n 's/^ *//; /./p' | tail -1
    return 1
}

vendor=false
case "$mode" in
    vendor) vendor=true; say "vendoring (--vendor)" ;;
    network)
        [ ! -e "$repo/vendor" ] \
            || die "--no-vendor, but $repo/vendor exists and the build would take the crates from it: delete it"
        say "crates from crates.io inside the build (--no-vendor)"
        ;;
    auto)
        if [ -e "$repo/vendor" ]; then
            vendor=true
            say "vendor/ exists: refreshing it and building from it (delete it to fetch crates inside the build)"
        elif why="$(crates_reachable)"; then
            say "containers reach crates.io: the build fetches the crates itself"
        else
            vendor=true
            say "containers cannot fetch from crates.io (${why:-no reason given}): vendoring on this host"
        fi
        ;;
esac
if $vendor; then
    command -v cargo >/dev/null || die "cargo is not installed on this host, and the build needs the crates vendored"
    t=$SECONDS
    (cd "$repo" && cargo vendor --locked --quiet vendor >/dev/null) \
        || die "cargo vendor --locked vendor failed in $repo (output above)"
    say "vendored into vendor/ ($(du -sh "$repo/vendor" | cut -f1), $((SECONDS - t)) s)"
fi

# --- build, and clean up after a failure ---------------------------------------------------
# What existed before, so that only what these builds leave is removed.
containers_before="$(mktemp)"
dangling_before="$(mktemp)"
"$docker" ps -a -q --no-trunc | sort > "$containers_before"
"$docker" images -q --no-trunc --filter dangling=true | sort -u > "$dangling_before"

# The Dockerfile's stages are labelled io.dawn.stage; the final image has the OCI title dawn.
ours() {
    "$docker" inspect --format \
        '{{index .Config.Labels "io.dawn.stage"}}{{index .Config.Labels "org.opencontainers.image.title"}}' \
        "$1" 2>/dev/null | grep -Eq '^(planner|build|dawn)$'
}

# Removes the stopped containers and untagged images that appeared since the start and
# come from the Dockerfile (not a compose project's containers). Prints what it removed.
remove_leftovers() {
    local id containers=0 images=0 compose running
    for id in $("$docker" ps -a -q --no-trunc | sort | comm -13 "$containers_before" -); do
        running="$("$docker" inspect --format '{{.State.Running}}' "$id" 2>/dev/null)" || continue
        compose="$("$docker" inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' "$id" 2>/dev/null)" || continue
        if [ "$running" = false ] && [ -z "$compose" ] && ours "$id" \
            && "$docker" rm --force "$id" >/dev/null 2>&1; then
            containers=$((containers + 1))
        fi
    done
    for id in $("$docker" images -q --no-trunc --filter dangling=true | sort -u | comm -13 "$dangling_before" -); do
        if ours "$id" && "$docker" rmi "$id" >/dev/null 2>&1; then
            images=$((images + 1))
        fi
    done
    printf '%s container(s) and %s untagged image(s) removed' "$containers" "$images"
}

build() {
    "$docker" build --rm --force-rm "$@" "$repo"
}

building=true
t=$SECONDS
say "building the build stage as $build_cache_tag"
build --target build --tag "$build_cache_tag"
say "building $tag"
build --tag "$tag"
building=false
took=$((SECONDS - t))

# Untagged images of the Dockerfile's stages and former images of this name: the cache of
# earlier builds, a gigabyte or so each. dawn:build-cache keeps the current dependencies.
# One `docker rmi` each rather than `docker image prune`, which fails while another prune
# runs; an image still in use (another build's) is kept.
pruned=0
for id in $("$docker" images -q --no-trunc --filter dangling=true --filter label=io.dawn.stage) \
    $("$docker" images -q --no-trunc --filter dangling=true --filter label=org.opencontainers.image.title=dawn); do
    if "$docker" rmi "$id" >/dev/null 2>&1; then pruned=$((pruned + 1)); fi
done
if $vendor; then how="crates vendored on this host"; else how="crates fetched in the build"; fi
say "built $tag in ${took} s ($how; $((SECONDS - started)) s in all; $pruned untagged image(s) of earlier builds removed)"
