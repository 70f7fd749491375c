#!/usr/bin/env bash
# pack-pg-tools.sh — lay out PostgreSQL client tools and the shared libraries they link as a
# Lambda layer tree:  OUTPUT_DIR/bin/<tool>  +  OUTPUT_DIR/lib/<soname>  (+ OUTPUT_DIR/pg-tools.manifest).
#
# Usage: pack-pg-tools.sh [options] SOURCE_BIN_DIR OUTPUT_DIR
#   SOURCE_BIN_DIR   directory holding pg_dump etc. (e.g. /usr/lib/postgresql/15/bin, /usr/bin on AL2023)
#   OUTPUT_DIR       created if absent; must be empty
# Options:
#   --tools LIST       comma- or space-separated tools to pack; a bare name is looked up in SOURCE_BIN_DIR,
#                      an absolute path is taken as is. Default: pg_dump,pg_restore,psql (required) plus
#                      zstd when present in SOURCE_BIN_DIR or on PATH (optional: the dump job may pipe
#                      through it).
#   --expect-major N   fail unless `pg_dump --version` (packed) reports PostgreSQL major N.
#   --max-glibc X.Y    fail if any packed file needs a GLIBC_ symbol version newer than X.Y
#                      (Lambda on Amazon Linux 2023 has glibc 2.34). Needs readelf (binutils).
#   --rpath MODE       auto (default): if patchelf is on PATH, set DT_RPATH '$ORIGIN/../lib' on each packed
#                      executable so it finds its libraries ahead of the runtime's own copies;
#                      always: require patchelf; never: leave binaries untouched (rely on LD_LIBRARY_PATH).
#   --ca-bundle FILE   copy FILE (the RDS CA bundle, global-bundle.pem) to share/pgdr/rds-global-bundle.pem
#                      (/opt/share/pgdr/rds-global-bundle.pem in Lambda) after checking that it is a
#                      non-empty series of PEM certificates, each a well-formed DER SEQUENCE (base64,
#                      od: no openssl needed).
#   --with-server      also pack a PostgreSQL server for the verify job's ephemeral restore tests: initdb,
#                      pg_ctl and postgres, the server's share/ and its modules (pkglibdir, without the
#                      JIT: llvmjit*.so and bitcode/, the server runs with jit=off), under OUTPUT_DIR/server/
#                      in the same relative layout as the source install (PostgreSQL finds share/ and lib/
#                      relative to its binary only then), their libraries in OUTPUT_DIR/lib. Needs pg_config
#                      in SOURCE_BIN_DIR (it names the install's bindir, sharedir and pkglibdir). The
#                      server's bin directory (PGDR_PG_SERVER_BIN, relative to OUTPUT_DIR) is the manifest's
#                      `server-bin` line.
#   -h, --help
#
# Libraries: everything `ldd` resolves for each tool (ldd already lists the transitive closure) is
# copied, EXCEPT the dynamic loader, the vDSO and the core glibc libraries. Those must never be
# packed: the kernel starts the runtime's own loader (the binary's PT_INTERP is an absolute path,
# /lib64/ld-linux-x86-64.so.2), and the loader and libc.so.6 talk through GLIBC_PRIVATE interfaces
# that change between glibc releases, so a libc from another glibc build next to the runtime's
# loader crashes or refuses to load. Every Lambda runtime ships glibc (2.34 on Amazon Linux 2023);
# compatibility with it is checked with --max-glibc instead. Excluded sonames (all part of glibc):
#   ld-linux*.so.*, ld64.so.*, linux-vdso.so.*, linux-gate.so.*, libc.so.6, libm.so.6, libmvec.so.1,
#   libpthread.so.0, libdl.so.2, librt.so.1, libutil.so.1, libanl.so.1, libresolv.so.2,
#   libBrokenLocale.so.1, libthread_db.so.1, libc_malloc_debug.so.0, libnss_*.so.2
# Everything else is packed, including libpq, libssl/libcrypto, Kerberos (libgssapi_krb5 & co),
# libldap/liblber, libsasl2, libz, libzstd, liblz4, libreadline/libtinfo, libgcc_s, libstdc++,
# libcrypt (libxcrypt is not glibc on AL2023).
# Not covered (ldd cannot see them): libraries opened with dlopen at run time (NSS modules, SASL
# plugins, gconv modules, OpenSSL engines/providers); pg_dump/pg_restore/psql need none of them for
# password or TLS connections.
set -euo pipefail

PROG=pack-pg-tools
die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; }

TOOLS_ARG=""
EXPECT_MAJOR=""
MAX_GLIBC=""
RPATH_MODE=auto
CA_BUNDLE=""
WITH_SERVER=0
POSITIONAL=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tools) [ $# -ge 2 ] || die "--tools needs a value"; TOOLS_ARG="$2"; shift 2 ;;
    --tools=*) TOOLS_ARG="${1#*=}"; shift ;;
    --expect-major) [ $# -ge 2 ] || die "--expect-major needs a value"; EXPECT_MAJOR="$2"; shift 2 ;;
    --expect-major=*) EXPECT_MAJOR="${1#*=}"; shift ;;
    --max-glibc) [ $# -ge 2 ] || die "--max-glibc needs a value"; MAX_GLIBC="$2"; shift 2 ;;
    --max-glibc=*) MAX_GLIBC="${1#*=}"; shift ;;
    --rpath) [ $# -ge 2 ] || die "--rpath needs a value"; RPATH_MODE="$2"; shift 2 ;;
    --rpath=*) RPATH_MODE="${1#*=}"; shift ;;
    --ca-bundle) [ $# -ge 2 ] || die "--ca-bundle needs a value"; CA_BUNDLE="$2"; shift 2 ;;
    --ca-bundle=*) CA_BUNDLE="${1#*=}"; shift ;;
    --with-server) WITH_SERVER=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; POSITIONAL+=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) POSITIONAL+=("$1"); shift ;;
  esac
done
[ ${#POSITIONAL[@]} -eq 2 ] || { usage >&2; die "expected SOURCE_BIN_DIR and OUTPUT_DIR, got ${#POSITIONAL[@]} argument(s)"; }
SRC="${POSITIONAL[0]}"
OUT="${POSITIONAL[1]}"

case "$RPATH_MODE" in auto|always|never) ;; *) die "--rpath must be auto, always or never, got '$RPATH_MODE'" ;; esac
if [ -n "$EXPECT_MAJOR" ] && ! [[ "$EXPECT_MAJOR" =~ ^[0-9]+$ ]]; then die "--expect-major must be a whole number, got '$EXPECT_MAJOR'"; fi
if [ -n "$MAX_GLIBC" ] && ! [[ "$MAX_GLIBC" =~ ^[0-9]+\.[0-9]+$ ]]; then die "--max-glibc must look like 2.34, got '$MAX_GLIBC'"; fi
[ -d "$SRC" ] || die "source bin directory '$SRC' does not exist"

# --- the CA bundle: checked before anything is packed ------------------------------------------
# Prints the number of certificates in a PEM file, or dies naming what is wrong. Each block must be
# base64 that decodes to one DER SEQUENCE (0x30) whose encoded length is exactly the decoded size.
CA_BUNDLE_PATH=share/pgdr/rds-global-bundle.pem
check_pem_certificates() {
  local f="$1" line inblock=0 b64="" n=0 lineno=0 start=0 bytes hex len total
  [ -f "$f" ] || die "--ca-bundle '$f' does not exist"
  [ -s "$f" ] || die "--ca-bundle '$f' is empty"
  command -v base64 >/dev/null 2>&1 || die "--ca-bundle needs base64 (coreutils)"
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line="${line%$'\r'}"
    case "$line" in
      '-----BEGIN CERTIFICATE-----')
        [ "$inblock" = 0 ] || die "--ca-bundle '$f' line $lineno: BEGIN CERTIFICATE inside the certificate of line $start"
        inblock=1; start=$lineno; b64="" ;;
      '-----END CERTIFICATE-----')
        [ "$inblock" = 1 ] || die "--ca-bundle '$f' line $lineno: END CERTIFICATE without BEGIN"
        inblock=0; n=$((n + 1))
        hex="$(printf '%s' "$b64" | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n')" || hex=""
        bytes=$(( ${#hex} / 2 ))
        [ "$bytes" -ge 4 ] && [ "${hex:0:2}" = 30 ] || die "--ca-bundle '$f': the certificate at line $start is not base64 of a DER certificate"
        len=$((16#${hex:2:2}))
        if [ "$len" -lt 128 ]; then total=$((2 + len))
        elif [ "$len" = 129 ]; then total=$((3 + 16#${hex:4:2}))
        elif [ "$len" = 130 ]; then total=$((4 + 16#${hex:4:4}))
        elif [ "$len" = 131 ]; then total=$((5 + 16#${hex:4:6}))
        else die "--ca-bundle '$f': the certificate at line $start has an unsupported DER length"; fi
        [ "$total" = "$bytes" ] || die "--ca-bundle '$f': the certificate at line $start is truncated or corrupt ($bytes bytes, DER says $total)" ;;
      *)
        if [ "$inblock" = 1 ]; then
          [[ "$line" =~ ^[A-Za-z0-9+/=]*$ ]] || die "--ca-bundle '$f' line $lineno: not base64 inside the certificate of line $start"
          b64+="$line"
        fi ;;
    esac
  done <"$f"
  [ "$inblock" = 0 ] || die "--ca-bundle '$f': the certificate at line $start has no END CERTIFICATE line"
  [ "$n" -gt 0 ] || die "--ca-bundle '$f' holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)"
  echo "$n"
}
CA_COUNT=""
if [ -n "$CA_BUNDLE" ]; then CA_COUNT="$(check_pem_certificates "$CA_BUNDLE")" || exit 1; fi
command -v ldd >/dev/null 2>&1 || die "ldd not found on PATH (install glibc-common / libc-bin)"
if [ -n "$MAX_GLIBC" ]; then command -v readelf >/dev/null 2>&1 || die "--max-glibc needs readelf (install binutils)"; fi
USE_PATCHELF=0
case "$RPATH_MODE" in
  always) command -v patchelf >/dev/null 2>&1 || die "--rpath always needs patchelf on PATH"; USE_PATCHELF=1 ;;
  auto) command -v patchelf >/dev/null 2>&1 && USE_PATCHELF=1 ;;
esac

if [ -e "$OUT" ]; then
  [ -d "$OUT" ] || die "output '$OUT' exists and is not a directory"
  [ -z "$(ls -A "$OUT")" ] || die "output directory '$OUT' is not empty"
fi
# --- which tools --------------------------------------------------------------------------------
declare -a TOOL_PATHS=()
resolve_tool() { # name-or-path -> prints path or returns 1
  local t="$1"
  if [[ "$t" == /* ]]; then printf '%s\n' "$t"; else printf '%s\n' "$SRC/$t"; fi
}
if [ -n "$TOOLS_ARG" ]; then
  read -r -a REQ <<<"${TOOLS_ARG//,/ }"
  [ ${#REQ[@]} -gt 0 ] || die "--tools is empty"
  for t in "${REQ[@]}"; do TOOL_PATHS+=("$(resolve_tool "$t")"); done
else
  for t in pg_dump pg_restore psql; do TOOL_PATHS+=("$SRC/$t"); done
  if [ -x "$SRC/zstd" ]; then TOOL_PATHS+=("$SRC/zstd")
  elif command -v zstd >/dev/null 2>&1; then TOOL_PATHS+=("$(command -v zstd)")
  else note "zstd not found in $SRC or on PATH: packing without it"; fi
fi
for p in "${TOOL_PATHS[@]}"; do
  [ -f "$p" ] && [ -x "$p" ] || die "tool '$(basename "$p")' not found: '$p' is not an executable file"
  [ "$(head -c 4 "$p" | od -An -c | tr -d ' ')" = '177ELF' ] || die "tool '$p' is not an ELF executable (a wrapper script?); pass the real binary"
done

# --- the server (--with-server): where the install keeps it -------------------------------------
# The server's directories relative to their longest common parent: PostgreSQL finds share/ and
# pkglibdir from its own binary's path by that relative layout (make_relative_path), so the packed
# tree keeps it under OUTPUT_DIR/server/.
declare -a SERVER_BINS=()
SERVER_BIN_REL=""; SERVER_SHARE_REL=""; SERVER_PKGLIB_REL=""
if [ "$WITH_SERVER" = 1 ]; then
  [ -x "$SRC/pg_config" ] || die "--with-server needs pg_config in '$SRC' (it names the server's share and lib directories)"
  S_BINDIR="$("$SRC/pg_config" --bindir)" && S_SHAREDIR="$("$SRC/pg_config" --sharedir)" && S_PKGLIBDIR="$("$SRC/pg_config" --pkglibdir)" \
    || die "'$SRC/pg_config' failed"
  common="$S_BINDIR"
  while [ -n "$common" ] && { [[ "$S_SHAREDIR/" != "$common/"* ]] || [[ "$S_PKGLIBDIR/" != "$common/"* ]]; }; do common="${common%/*}"; done
  SERVER_BIN_REL="server${S_BINDIR#"$common"}"
  SERVER_SHARE_REL="server${S_SHAREDIR#"$common"}"
  SERVER_PKGLIB_REL="server${S_PKGLIBDIR#"$common"}"
  [ -f "$S_SHAREDIR/postgres.bki" ] || die "--with-server: '$S_SHAREDIR' (pg_config --sharedir) has no postgres.bki: not a server install"
  for t in initdb pg_ctl postgres; do
    p="$S_BINDIR/$t"
    [ -f "$p" ] && [ -x "$p" ] || die "--with-server: '$p' is not an executable file (install the PostgreSQL server package)"
    [ "$(head -c 4 "$p" | od -An -c | tr -d ' ')" = '177ELF' ] || die "--with-server: '$p' is not an ELF executable"
    SERVER_BINS+=("$p")
  done
fi

mkdir -p "$OUT/bin" "$OUT/lib"
OUT_ABS="$(cd "$OUT" && pwd -P)"
# A failed run leaves no half-packed tree behind (only what this script creates is removed).
DONE=0
cleanup() { [ "$DONE" = 1 ] || { rm -rf "$OUT_ABS/bin" "$OUT_ABS/lib" "$OUT_ABS/server" "$OUT_ABS/pg-tools.manifest" "$OUT_ABS/share/pgdr"; rmdir "$OUT_ABS/share" 2>/dev/null || true; }; }
trap cleanup EXIT

# --- glibc: never packed ------------------------------------------------------------------------
is_excluded() {
  case "$1" in
    ld-linux*.so*|ld64.so*|linux-vdso.so*|linux-gate.so*) return 0 ;;
    libc.so.6|libm.so.6|libmvec.so.1|libpthread.so.0|libdl.so.2|librt.so.1|libutil.so.1|libanl.so.1) return 0 ;;
    libresolv.so.2|libBrokenLocale.so.1|libthread_db.so.1|libc_malloc_debug.so.0|libnss_*.so.2) return 0 ;;
  esac
  return 1
}

# ldd output lines: "name => /path (0x..)", "name => not found", "/lib64/ld-linux.. (0x..)", "linux-vdso.so.1 (0x..)"
declare -A LIB_SRC=()
declare -a EXCLUDED=()
# Records the libraries `ldd` resolves for file $1 in LIB_SRC (glibc in EXCLUDED).
collect_libs() {
  local p="$1" tool lddout missing name arrow path
  tool="$(basename "$p")"
  if ! lddout="$(ldd "$p" 2>&1)"; then
    case "$lddout" in *"not a dynamic executable"*|*"statically linked"*) lddout="" ;; *) die "ldd failed for '$p': $lddout" ;; esac
  fi
  missing="$(printf '%s\n' "$lddout" | awk '/=> not found/ {print $1}' | tr '\n' ' ')"
  [ -z "$missing" ] || die "library not found for '$tool': ${missing% } (ldd '$p' cannot resolve it on this host)"
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue           # loader and vdso lines have no "=>"
    [ -n "$path" ] && [[ "$path" == /* ]] || continue
    if is_excluded "$name"; then EXCLUDED+=("$name"); continue; fi
    [ -f "$path" ] || die "library '$name' of '$tool' resolves to '$path', which does not exist"
    if [ -n "${LIB_SRC[$name]:-}" ] && [ "$(readlink -f "${LIB_SRC[$name]}")" != "$(readlink -f "$path")" ]; then
      die "library '$name' resolves to two different files: '${LIB_SRC[$name]}' and '$path'"
    fi
    LIB_SRC[$name]="$path"
  done <<<"$lddout"
}
for p in "${TOOL_PATHS[@]}"; do
  tool="$(basename "$p")"
  collect_libs "$p"
  cp -L "$p" "$OUT/bin/$tool"
  chmod 0755 "$OUT/bin/$tool"
done
# The server: binaries, share/, and the modules (no JIT); their libraries join lib/.
SERVER_FILES=()
if [ "$WITH_SERVER" = 1 ]; then
  mkdir -p "$OUT/$SERVER_BIN_REL" "$OUT/$SERVER_PKGLIB_REL" "$(dirname "$OUT/$SERVER_SHARE_REL")"
  for p in "${SERVER_BINS[@]}"; do
    collect_libs "$p"
    cp -L "$p" "$OUT/$SERVER_BIN_REL/"
    chmod 0755 "$OUT/$SERVER_BIN_REL/$(basename "$p")"
    SERVER_FILES+=("$OUT/$SERVER_BIN_REL/$(basename "$p")")
  done
  cp -RL "$S_SHAREDIR" "$OUT/$SERVER_SHARE_REL"
  for m in "$S_PKGLIBDIR"/*.so; do
    case "$(basename "$m")" in llvmjit*) continue ;; esac
    collect_libs "$m"
    cp -L "$m" "$OUT/$SERVER_PKGLIB_REL/"
    chmod 0644 "$OUT/$SERVER_PKGLIB_REL/$(basename "$m")"
  done
fi
for name in "${!LIB_SRC[@]}"; do
  cp -L "${LIB_SRC[$name]}" "$OUT/lib/$name"
  chmod 0644 "$OUT/lib/$name"
done
# coreutils' libstdbuf.so (what `stdbuf -o SIZE` preloads), when the host has it: the dump job
# preloads it into pg_dump for a 1 MiB stdout buffer instead of 4 KiB writes (lambda/shared/pg-process.ts
# stdoutBufferBytes). Optional: without it pg_dump keeps its default buffer.
STDBUF_LIB=""
for f in /usr/libexec/coreutils/libstdbuf.so /usr/lib/coreutils/libstdbuf.so /usr/lib64/coreutils/libstdbuf.so; do
  if [ -f "$f" ]; then STDBUF_LIB="$f"; break; fi
done
if [ -n "$STDBUF_LIB" ]; then
  cp -L "$STDBUF_LIB" "$OUT/lib/libstdbuf.so"
  chmod 0644 "$OUT/lib/libstdbuf.so"
else
  note "coreutils' libstdbuf.so not found: packing without it (pg_dump writes its archive in 4 KiB writes)"
fi

if [ "$USE_PATCHELF" = 1 ]; then
  for f in "$OUT"/bin/*; do patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$f" || die "patchelf failed on '$f'"; done
  if [ "$WITH_SERVER" = 1 ]; then
    # From OUTPUT_DIR/server/<...>/bin back to OUTPUT_DIR/lib.
    up="$(printf '%s' "$SERVER_BIN_REL" | tr -cd '/' | sed 's#/#../#g')../lib"
    for f in "${SERVER_FILES[@]}"; do patchelf --force-rpath --set-rpath "\$ORIGIN/$up" "$f" || die "patchelf failed on '$f'"; done
  fi
fi

# --- checks on the packed tree ------------------------------------------------------------------
# Every non-glibc library of every packed tool must resolve inside OUTPUT_DIR/lib when only that
# directory is on the library path.
for f in "$OUT"/bin/* "${SERVER_FILES[@]}"; do
  tool="$(basename "$f")"
  lddout="$(LD_LIBRARY_PATH="$OUT_ABS/lib" ldd "$f" 2>&1 || true)"
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    is_excluded "$name" && continue
    [ "$path" != "not" ] || die "packed '$tool' cannot find '$name' in $OUT_ABS/lib"
    case "$(readlink -f "$path")" in
      "$OUT_ABS"/lib/*) ;;
      *) die "packed '$tool' resolves '$name' to '$path', outside $OUT_ABS/lib (DT_RPATH in the binary? use --rpath always with patchelf)" ;;
    esac
  done <<<"$lddout"
done

if [ -n "$MAX_GLIBC" ]; then
  bad=""
  for f in "$OUT"/bin/* "$OUT"/lib/* "${SERVER_FILES[@]}"; do
    need="$(readelf -V --wide "$f" 2>/dev/null | awk '/Version needs section/ {on=1; next} /Version (symbols|definition) section/ {on=0} on' \
      | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: GLIBC_//' | sort -uV | tail -n 1 || true)"
    [ -n "$need" ] || continue
    if [ "$(printf '%s\n%s\n' "$need" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
      bad="$bad ${f#"$OUT"/}(GLIBC_$need)"
    fi
  done
  [ -z "$bad" ] || die "needs a glibc newer than $MAX_GLIBC:$bad — build on an older distribution (e.g. the Amazon Linux 2023 Docker build)"
fi

PG_VERSION_LINE=""
if [ -x "$OUT/bin/pg_dump" ]; then
  PG_VERSION_LINE="$(LD_LIBRARY_PATH="$OUT_ABS/lib" "$OUT/bin/pg_dump" --version 2>&1)" || die "packed pg_dump does not run: $PG_VERSION_LINE"
  if [ -n "$EXPECT_MAJOR" ]; then
    major="$(printf '%s\n' "$PG_VERSION_LINE" | sed -n 's/^pg_dump (PostgreSQL) \([0-9][0-9]*\).*/\1/p')"
    [ "$major" = "$EXPECT_MAJOR" ] || die "expected PostgreSQL major $EXPECT_MAJOR but packed pg_dump reports '$PG_VERSION_LINE'"
  fi
elif [ -n "$EXPECT_MAJOR" ]; then
  die "--expect-major given but pg_dump is not among the packed tools"
fi

SERVER_VERSION_LINE=""
if [ "$WITH_SERVER" = 1 ]; then
  SERVER_VERSION_LINE="$(LD_LIBRARY_PATH="$OUT_ABS/lib" "$OUT/$SERVER_BIN_REL/postgres" --version 2>&1)" || die "packed postgres does not run: $SERVER_VERSION_LINE"
  if [ -n "$EXPECT_MAJOR" ]; then
    major="$(printf '%s\n' "$SERVER_VERSION_LINE" | sed -n 's/^postgres (PostgreSQL) \([0-9][0-9]*\).*/\1/p')"
    [ "$major" = "$EXPECT_MAJOR" ] || die "expected PostgreSQL major $EXPECT_MAJOR but packed postgres reports '$SERVER_VERSION_LINE'"
  fi
fi

if [ -n "$CA_BUNDLE" ]; then
  mkdir -p "$OUT/$(dirname "$CA_BUNDLE_PATH")"
  cp "$CA_BUNDLE" "$OUT/$CA_BUNDLE_PATH"
  chmod 0644 "$OUT/$CA_BUNDLE_PATH"
fi

{
  echo "# pg-tools layer manifest written by pack-pg-tools.sh"
  echo "source $SRC"
  [ -z "$PG_VERSION_LINE" ] || echo "version $PG_VERSION_LINE"
  echo "rpath $([ "$USE_PATCHELF" = 1 ] && echo '$ORIGIN/../lib' || echo none)"
  for f in "$OUT"/bin/*; do echo "bin $(basename "$f")"; done
  if [ "$WITH_SERVER" = 1 ]; then
    echo "server-bin $SERVER_BIN_REL"
    echo "server-version $SERVER_VERSION_LINE"
    for f in "${SERVER_FILES[@]}"; do echo "server $(basename "$f")"; done
  fi
  for name in $(printf '%s\n' "${!LIB_SRC[@]}" | sort); do echo "lib $name ${LIB_SRC[$name]}"; done
  for name in $(printf '%s\n' "${EXCLUDED[@]}" | sort -u); do echo "excluded $name"; done
  [ -z "$STDBUF_LIB" ] || echo "stdbuf libstdbuf.so $STDBUF_LIB"
  [ -z "$CA_BUNDLE" ] || echo "ca-bundle $CA_BUNDLE_PATH $CA_COUNT certificates sha256 $(sha256sum "$OUT/$CA_BUNDLE_PATH" | cut -d' ' -f1)"
} >"$OUT/pg-tools.manifest"

DONE=1
note "packed $(ls "$OUT/bin" | wc -l) tool(s)${SERVER_VERSION_LINE:+, a server ($SERVER_BIN_REL)} and ${#LIB_SRC[@]} libraries${CA_COUNT:+ and $CA_COUNT CA certificates} into $OUT_ABS${PG_VERSION_LINE:+ ($PG_VERSION_LINE)}"
