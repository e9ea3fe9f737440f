#!/usr/bin/env bash
# The Debian package (cmake/Packaging.cmake): built with cpack into a temporary directory, then
#  - its control data: name, version, architecture, conffiles, maintainer scripts, and a
#    dependency on the package of every shared library the binaries load;
#  - its contents: the binaries, unit, configuration and documents where they belong, owned by
#    root, nothing else outside /usr and /etc, files identical to the sources;
#  - extracted with dpkg-deb -x into a temporary root: gilstatd and gilstat run (--version,
#    --help), and the packaged configuration and the Kubernetes ConfigMap's are accepted by the
#    packaged gilstatd (run unprivileged, it must get past the configuration and stop at the
#    missing privileges, exit 1, not at a configuration error, exit 2);
#  - the unit as installed passes `systemd-analyze verify --root`: the root holds the package
#    plus what the host's base system provides (systemd's own units, the programs the unit's
#    other Exec lines name), so ExecStart must name the daemon where the package puts it.
# Nothing is installed on the machine; everything is in a temporary directory removed at exit.
set -euo pipefail
build=$1 src=$2 version=$3

for tool in cpack dpkg-deb dpkg systemd-analyze python3 readelf ldd; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/deps.sh)"; exit 1; }
done
fail() { echo "FAIL: $*"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # the unprivileged run below must reach the extracted binary

(cd "$build" && cpack -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake") >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
debs=("$tmp"/out/*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "expected one .deb, got: ${debs[*]}"
deb=${debs[0]}
arch=$(dpkg --print-architecture)
[[ $(basename "$deb") == "gilstat_${version}_${arch}.deb" ]] || fail "file name $(basename "$deb")"

# --- control ---------------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == gilstat ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$version" ]] || fail "Version: $(field Version), expected $version"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture: $(field Architecture)"
[[ -n $(field Maintainer) ]] || fail "no Maintainer"
[[ -n $(field Description) ]] || fail "no Description"
depends=$(field Depends)
echo "Depends: $depends"
depend_names=$(sed 's/([^)]*)//g; s/[|,]/\n/g; s/ //g' <<<"$depends")  # one name a line
dpkg-deb -e "$deb" "$tmp/DEBIAN"
[[ $(cat "$tmp/DEBIAN/conffiles") == "/etc/gilstat/gilstatd.yml" ]] ||
  fail "conffiles: $(cat "$tmp/DEBIAN/conffiles")"
for script in postinst prerm postrm; do
  [[ -x $tmp/DEBIAN/$script ]] || fail "maintainer script $script missing or not executable"
  sh -n "$tmp/DEBIAN/$script" || fail "$script: syntax"
done

# --- contents --------------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents"
others=$(awk '$2 != "root/root"' "$tmp/contents")
[[ -z $others ]] || fail "entries not owned by root:
$others"
outside=$(awk '{print $6}' "$tmp/contents" | grep -Ev '^\./(usr|etc)(/|$)|^\./$' || true)
[[ -z $outside ]] || fail "entries outside /usr and /etc: $outside"
grep -q "$build" "$tmp/contents" && fail "build-tree paths in the package"
expect() {  # mode-prefix path
  grep -Eq "^$1 .* \\./$2\$" "$tmp/contents" || fail "missing or wrong mode: $1 ./$2"
}
expect -rwxr-xr-x usr/sbin/gilstatd
expect -rwxr-xr-x usr/bin/gilstat
expect -rw-r--r-- usr/lib/systemd/system/gilstatd.service
expect -rw-r--r-- etc/gilstat/gilstatd.yml
for doc in README METRICS SERVICE OPERATIONS CLI PYTHON; do
  expect -rw-r--r-- "usr/share/doc/gilstat/$doc.md"
done
expect -rw-r--r-- usr/share/doc/gilstat/examples/grafana/gilstat.json
expect -rw-r--r-- usr/share/doc/gilstat/examples/prometheus/gilstat.rules.yml
expect -rw-r--r-- usr/share/doc/gilstat/examples/kubernetes/gilstatd-daemonset.yaml

root=$tmp/root
dpkg-deb -x "$deb" "$root"
cmp "$root/usr/lib/systemd/system/gilstatd.service" "$src/systemd/gilstatd.service" ||
  fail "packaged unit differs from systemd/gilstatd.service"
cmp "$root/etc/gilstat/gilstatd.yml" "$src/systemd/gilstatd.yml" ||
  fail "packaged configuration differs from systemd/gilstatd.yml"
# The unit's Documentation= links are in the package.
for doc in $(sed -n 's/^Documentation=//p' "$root/usr/lib/systemd/system/gilstatd.service"); do
  [[ $doc != file:* ]] || [[ -f $root${doc#file:} ]] || fail "unit documentation $doc not packaged"
done

# Every shared library the binaries load comes from a package the package depends on.
for bin in usr/sbin/gilstatd usr/bin/gilstat; do
  for lib in $(readelf -d "$root/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldd "$root/$bin" | awk -v l="$lib" '$1 == l {print $3; exit}
                                          $1 ~ "/" l "$" {print $1; exit}')
    [[ -n $path && -e $path ]] || fail "$bin needs $lib, which this machine does not resolve"
    owner=""
    for p in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
      owner=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n $owner ]] && break
    done
    [[ -n $owner ]] || fail "$bin: no package owns $path ($lib)"
    # The dependency may name the package or a virtual one it provides (libspdlog1.10-fmt9).
    ok=""
    for name in "$owner" $(dpkg-query -W -f='${Provides}' "$owner" | sed 's/([^)]*)//g; s/,/ /g'); do
      grep -Fxq -- "$name" <<<"$depend_names" && ok=1
    done
    [[ -n $ok ]] || fail "$bin needs $lib from $owner, which Depends does not name"
  done
done

# --- the binaries run from the extracted tree ------------------------------------------------
out=$("$root/usr/sbin/gilstatd" --version) || fail "gilstatd --version"
[[ $out == "gilstatd $version"* ]] || fail "gilstatd --version: $out"
"$root/usr/sbin/gilstatd" --help | grep -q -- "--config.file" || fail "gilstatd --help"
out=$("$root/usr/bin/gilstat" --version) || fail "gilstat --version"
[[ $out == *"$version"* ]] || fail "gilstat --version: $out"
"$root/usr/bin/gilstat" --help | grep -q "locks" || fail "gilstat --help"

# The shipped configurations are valid: unprivileged, gilstatd reads the file first (exit 2 on
# any error in it), then stops at the privilege check (exit 1).
python3 - "$src/deploy/kubernetes/gilstatd-daemonset.yaml" >"$tmp/configmap.yml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"]
print(docs[0]["data"]["gilstatd.yml"], end="")
EOF
chmod 644 "$tmp/configmap.yml"
unprivileged=()
if [[ $(id -u) -eq 0 ]]; then
  unprivileged=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
fi
for cfg in "$root/etc/gilstat/gilstatd.yml" "$tmp/configmap.yml"; do
  rc=0
  out=$(timeout 20 "${unprivileged[@]}" "$root/usr/sbin/gilstatd" --config.file="$cfg" \
          --web.listen-address=127.0.0.1:0 2>&1) || rc=$?
  [[ $rc -eq 1 && ( $out == *"missing privileges"* || $out == *"no BTF"* ) ]] ||
    fail "gilstatd --config.file=$cfg: exit $rc, expected 1 at the privilege check:
$out"
done
echo "configurations accepted: /etc/gilstat/gilstatd.yml, the Kubernetes ConfigMap"

# --- the unit as installed -------------------------------------------------------------------
sysroot=$tmp/sysroot
mkdir -p "$sysroot"
for d in bin sbin lib lib64; do  # the host's /usr merge, mirrored
  if [[ -L /$d ]]; then ln -s "$(readlink "/$d")" "$sysroot/$d"; fi
done
for d in /usr/lib/systemd/system /lib/systemd/system; do
  if [[ -d $d && ! -L $d ]]; then mkdir -p "$sysroot$d" && cp -a "$d/." "$sysroot$d/"; fi
done
dpkg-deb -x "$deb" "$sysroot"
unit=$sysroot/usr/lib/systemd/system/gilstatd.service
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[[ -x $root$exec_start ]] || fail "ExecStart=$exec_start is not in the package"
# Programs of the other Exec lines (ExecReload=/bin/kill) come from the base system.
for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' "$unit"); do
  if [[ ! -e $sysroot$cmd ]]; then
    [[ -x $cmd ]] || fail "the unit runs $cmd, which neither the package nor the system has"
    mkdir -p "$sysroot$(dirname "$cmd")" && cp -L "$cmd" "$sysroot$cmd"
  fi
done
out=$(systemd-analyze verify --root="$sysroot" gilstatd.service 2>&1) ||
  fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warns: $out"
echo "systemd-analyze verify --root: clean"
echo "package OK: $(basename "$deb"), $(wc -l <"$tmp/contents") entries"
