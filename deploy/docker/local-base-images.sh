#!/usr/bin/env bash
# Makes, locally, the base images that Dawn's Dockerfile and docker-compose.yml name, for a
# Docker engine that cannot pull images (no registry). See docs/deploy.md.
#
#   debian:bookworm-slim       Debian bookworm, debootstrap's minbase variant
#   rust:1.95-slim-bookworm    the same, plus gcc, libc6-dev, ca-certificates and this host's
#                              Rust toolchain (`rustc --print sysroot`), laid out like the
#                              official rust image (CARGO_HOME=/usr/local/cargo, cargo and
#                              rustc on PATH)
#   prom/prometheus:v2.42.0    stand-in from Debian's `prometheus` package, with the official
#                              image's entrypoint, command, paths, user and busybox wget
#   prom/alertmanager:v0.25.0  stand-in from Debian's `prometheus-alertmanager` package, same
#
# The names are read from the Dockerfile (ARG RUST_IMAGE / RUNTIME_IMAGE defaults) and from
# docker-compose.yml (the prom/ images), so they always match what those files use.
# Images that already exist are left alone unless --force is given. Debian is bootstrapped
# once; its root file system is kept as a tarball under target/docker-base/ (override with
# DAWN_BASE_CACHE) and reused for every image, and for later runs. Delete that directory to
# bootstrap afresh. Run as root (debootstrap and chroot need it).
#
# Usage: deploy/docker/local-base-images.sh [--force] [--help]
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR
# (default http://deb.debian.org/debian-security), DAWN_BASE_CACHE.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

force=false
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=true ;;
        -h | --help) usage; exit 0 ;;
        *) echo "local-base-images.sh: unknown argument '$1' (try --help)" >&2; exit 64 ;;
    esac
    shift
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'local-base-images.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: debootstrap and chroot need it"
for tool in docker debootstrap tar chroot mount; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (debootstrap: apt-get install -y debootstrap)"
done
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running? are you allowed to use it?)"

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
suite=bookworm
cache="${DAWN_BASE_CACHE:-$repo/target/docker-base}"
rootfs_tar="$cache/$suite-minbase.tar"

# The image names, from the files that use them.
arg_default() { sed -n "s/^ARG $1=\\(.*\\)\$/\\1/p" Dockerfile | head -1; }
compose_image() { sed -n "s|^ *image: *\"\\{0,1\\}\\($1:[^\"]*\\)\"\\{0,1\\} *\$|\\1|p" docker-compose.yml | head -1; }
runtime_image="$(arg_default RUNTIME_IMAGE)"
rust_image="$(arg_default RUST_IMAGE)"
prometheus_image="$(compose_image prom/prometheus)"
alertmanager_image="$(compose_image prom/alertmanager)"
for pair in "RUNTIME_IMAGE in Dockerfile:$runtime_image" "RUST_IMAGE in Dockerfile:$rust_image" \
    "prom/prometheus in docker-compose.yml:$prometheus_image" \
    "prom/alertmanager in docker-compose.yml:$alertmanager_image"; do
    [ -n "${pair#*:}" ] || die "cannot find the image name (${pair%%:*})"
done

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Whether image $1 is to be made; says why not.
wanted() {
    if exists "$1" && ! $force; then
        say "$1: already present, kept (--force makes it again)"
        return 1
    fi
    return 0
}

mounted=()
work_dirs=()
cleanup() {
    local m d
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    for d in "${work_dirs[@]}"; do rm -rf --one-file-system "$d"; done
}
trap cleanup EXIT

# Debian's root file system, once.
make_rootfs() {
    if [ -s "$rootfs_tar" ]; then
        say "Debian $suite root file system: reusing $rootfs_tar"
        return
    fi
    mkdir -p "$cache"
    local dir="$cache/rootfs.tmp"
    rm -rf --one-file-system "$dir"
    work_dirs+=("$dir")
    say "debootstrap --variant=minbase $suite from $mirror (a few minutes, once)"
    local start=$SECONDS
    debootstrap --variant=minbase "$suite" "$dir" "$mirror" > "$cache/debootstrap.log" 2>&1 \
        || { tail -30 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
    # What the official debian image has: the three suites as apt sources, no recommends
    # pulled in by accident, no documentation or man pages in derived images (the -slim
    # variant), apt's caches cleaned after each install.
    rm -f "$dir/etc/apt/sources.list"
    cat > "$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat > "$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# As in the official -slim images: no documentation, man pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
EOF
    cat > "$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    rm -rf "$dir/usr/share/man/"* "$dir/usr/share/info/"* "$dir/usr/share/locale/"*
    rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin "$dir/var/cache/apt/archives/"*.deb
    rm -f "$dir/var/log/"*.log "$dir/var/log/apt/"* "$dir/etc/hostname"
    : > "$dir/etc/resolv.conf"
    rm -f "$dir/etc/machine-id"; : > "$dir/etc/machine-id"
    tar --numeric-owner --xattrs -C "$dir" -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf --one-file-system "$dir"
    say "root file system: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1), $((SECONDS - start)) s)"
}

# A fresh copy of the root file system in a new directory, ready for `chroot apt-get`; its
# path is left in $root (not printed: a command substitution's subshell would keep the
# directory from the cleanup list).
new_root() {
    root="$(mktemp -d "$cache/root.XXXXXX")"
    work_dirs+=("$root")
    tar --numeric-owner --xattrs -C "$root" -xf "$rootfs_tar"
}

# Installs Debian packages $2.. into the root $1 (from the mirror, inside the chroot),
# without starting services.
chroot_install() {
    local dir="$1"
    shift
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    mount -t proc proc "$dir/proc"
    mounted+=("$dir/proc")
    local log="$cache/apt-$(basename "$dir").log"
    if ! chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' \
        apt "$@" > "$log" 2>&1; then
        tail -30 "$log" >&2
        die "installing $* failed (log: $log)"
    fi
    rm -f "$log"
    umount "$dir/proc"
    unset 'mounted[${#mounted[@]}-1]'
    rm -f "$dir/usr/sbin/policy-rc.d"
    rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin "$dir/var/cache/apt/archives/"*.deb
    rm -f "$dir/var/log/"*.log "$dir/var/log/apt/"*
    : > "$dir/etc/resolv.conf"
}

# The version of Debian package $2 installed in root $1 (upstream part only: 2.42.0).
package_version() {
    chroot "$1" dpkg-query -W -f '${Version}' "$2" | sed 's/^[0-9]*://; s/[+~-].*//'
}

# Imports root $1 as image $2 with the Dockerfile instructions $3.. (docker import --change).
import_root() {
    local dir="$1" name="$2"
    shift 2
    local changes=() c old
    for c in "$@"; do changes+=(--change "$c"); done
    old="$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)"
    tar --numeric-owner --xattrs -C "$dir" -c . \
        | docker import "${changes[@]}" \
            --message "made by deploy/docker/local-base-images.sh" - "$name" > /dev/null
    rm -rf --one-file-system "$dir"
    say "$name: made ($(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}'))"
    # With --force, the image this one replaces is left untagged: remove it, unless images
    # built on it still need it (then it goes when they do).
    if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$name")" ] \
        && docker rmi "$old" > /dev/null 2>&1; then
        say "$name: removed the image it replaced"
    fi
}

base_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

make_runtime() {
    wanted "$runtime_image" || return 0
    say "$runtime_image: Debian $suite minbase"
    local dir
    new_root
    dir="$root"
    import_root "$dir" "$runtime_image" \
        "ENV PATH=$base_path" \
        "LABEL org.opencontainers.image.description=\"Local stand-in for $runtime_image: Debian $suite (debootstrap minbase)\"" \
        'CMD ["bash"]'
}

make_rust() {
    wanted "$rust_image" || return 0
    local sysroot version tag_version host
    command -v rustc >/dev/null || die "no rustc on PATH: $rust_image is made from this host's toolchain"
    sysroot="$(rustc --print sysroot)"
    version="$(rustc --version | awk '{print $2}')"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    # rust:1.95-slim-bookworm wants 1.95.x; rust:1-... any 1.x.
    tag_version="${rust_image#*:}"
    tag_version="${tag_version%%-*}"
    case "$version" in
        "$tag_version" | "$tag_version".*) ;;
        *) die "this host's Rust is $version, but the image is called $rust_image: install the matching toolchain, or build with --build-arg RUST_IMAGE=rust:${version%.*}-slim-bookworm and make that image" ;;
    esac
    say "$rust_image: Debian $suite minbase + gcc, libc6-dev, ca-certificates + Rust $version from $sysroot"
    local dir toolchain
    new_root
    dir="$root"
    chroot_install "$dir" gcc libc6-dev ca-certificates
    # The official image's layout: rustup's toolchain directory, cargo's home with the tools
    # on PATH. Only what builds crates is copied: cargo, rustc, rustdoc, their libraries and
    # the host's standard library (no docs, sources, clippy or rustfmt).
    toolchain="$dir/usr/local/rustup/toolchains/$version-$host"
    mkdir -p "$toolchain/bin" "$toolchain/lib/rustlib" "$dir/usr/local/cargo/bin"
    cp -a "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$sysroot/bin/rustdoc" "$toolchain/bin/"
    cp -a "$sysroot/lib/"*.so* "$toolchain/lib/"
    cp -a "$sysroot/lib/rustlib/$host" "$toolchain/lib/rustlib/"
    [ -d "$sysroot/lib/rustlib/etc" ] && cp -a "$sysroot/lib/rustlib/etc" "$toolchain/lib/rustlib/"
    for tool in cargo rustc rustdoc; do
        ln -s "../../rustup/toolchains/$version-$host/bin/$tool" "$dir/usr/local/cargo/bin/$tool"
    done
    chmod -R a+rX,go-w "$dir/usr/local/rustup" "$dir/usr/local/cargo"
    import_root "$dir" "$rust_image" \
        "ENV RUSTUP_HOME=/usr/local/rustup" \
        "ENV CARGO_HOME=/usr/local/cargo" \
        "ENV PATH=/usr/local/cargo/bin:$base_path" \
        "ENV RUST_VERSION=$version" \
        "LABEL org.opencontainers.image.description=\"Local stand-in for $rust_image: Debian $suite minbase, gcc, Rust $version copied from the host\"" \
        'CMD ["bash"]'
    if ! docker run --rm "$rust_image" sh -c 'cargo --version && rustc --version && cc --version | head -1'; then
        docker rmi "$rust_image" > /dev/null
        die "the toolchain copied into $rust_image does not run there; image removed"
    fi
}

# Warns when Debian's package has another version than the image tag says.
check_version() {
    local name="$1" got="$2" want="${1##*:v}"
    if [ "$got" != "$want" ]; then
        printf 'local-base-images.sh: WARNING: %s is made from Debian version %s, not %s\n' \
            "$name" "$got" "$want" >&2
    fi
}

make_prometheus() {
    wanted "$prometheus_image" || return 0
    say "$prometheus_image: Debian's prometheus package, laid out as the official image"
    local dir
    new_root
    dir="$root"
    chroot_install "$dir" prometheus busybox
    check_version "$prometheus_image" "$(package_version "$dir" prometheus)"
    # The official image (prometheus/prometheus Dockerfile at v2.42.0): busybox, the binaries
    # in /bin, the example config, console files under /usr/share/prometheus, /prometheus
    # owned by nobody. On Debian /bin is /usr/bin, where the package puts them.
    ln -s /bin/busybox "$dir/usr/local/bin/wget"
    mkdir -p "$dir/usr/share/prometheus" "$dir/prometheus"
    cp -a "$dir/etc/prometheus/console_libraries" "$dir/usr/share/prometheus/console_libraries"
    cp -a "$dir/etc/prometheus/consoles" "$dir/usr/share/prometheus/consoles"
    chroot "$dir" chown -R nobody:nogroup /etc/prometheus /prometheus
    import_root "$dir" "$prometheus_image" \
        "ENV PATH=$base_path" \
        "LABEL org.opencontainers.image.description=\"Local stand-in for $prometheus_image from Debian's prometheus package\"" \
        "USER nobody" \
        "EXPOSE 9090" \
        'VOLUME ["/prometheus"]' \
        "WORKDIR /prometheus" \
        'ENTRYPOINT ["/bin/prometheus"]' \
        'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.console.libraries=/usr/share/prometheus/console_libraries", "--web.console.templates=/usr/share/prometheus/consoles"]'
}

make_alertmanager() {
    wanted "$alertmanager_image" || return 0
    say "$alertmanager_image: Debian's prometheus-alertmanager package, laid out as the official image"
    local dir
    new_root
    dir="$root"
    chroot_install "$dir" prometheus-alertmanager busybox
    check_version "$alertmanager_image" "$(package_version "$dir" prometheus-alertmanager)"
    # The official image (prometheus/alertmanager Dockerfile at v0.25.0): busybox,
    # /bin/alertmanager and /bin/amtool, /etc/alertmanager/alertmanager.yml, /alertmanager
    # owned by nobody. Debian calls the binary prometheus-alertmanager.
    ln -s /bin/busybox "$dir/usr/local/bin/wget"
    ln -s prometheus-alertmanager "$dir/usr/bin/alertmanager"
    mkdir -p "$dir/etc/alertmanager" "$dir/alertmanager"
    cp "$dir/etc/prometheus/alertmanager.yml" "$dir/etc/alertmanager/alertmanager.yml"
    chroot "$dir" chown -R nobody:nogroup /etc/alertmanager /alertmanager
    import_root "$dir" "$alertmanager_image" \
        "ENV PATH=$base_path" \
        "LABEL org.opencontainers.image.description=\"Local stand-in for $alertmanager_image from Debian's prometheus-alertmanager package\"" \
        "USER nobody" \
        "EXPOSE 9093" \
        'VOLUME ["/alertmanager"]' \
        "WORKDIR /alertmanager" \
        'ENTRYPOINT ["/bin/alertmanager"]' \
        'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]'
}

start=$SECONDS
say "images: $runtime_image, $rust_image, $prometheus_image, $alertmanager_image"
if $force || ! exists "$runtime_image" || ! exists "$rust_image" \
    || ! exists "$prometheus_image" || ! exists "$alertmanager_image"; then
    make_rootfs
fi
make_runtime
make_rust
make_prometheus
make_alertmanager
say "done in $((SECONDS - start)) s"
