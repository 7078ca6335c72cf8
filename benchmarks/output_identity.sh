#!/usr/bin/env bash
# Are two revisions' outputs byte-identical on the study's real measurements?
#
#   benchmarks/output_identity.sh OLD_REV [NEW_REV]     (NEW_REV: the working tree)
#
# Runs the same fit / compare / optimal / report commands at both revisions (each from a
# temporary `git worktree`, with this checkout's .venv and its own sources first on
# PYTHONPATH) on ../shared/data/laion2025 and diffs every JSON, stdout, stderr, Markdown,
# LaTeX and HTML file (report timestamps masked). Exit 0: identical; 1: a difference.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
old=${1:?usage: benchmarks/output_identity.sh OLD_REV [NEW_REV]}
new=${2:-}
py="$root/.venv/bin/python"
data="$root/../shared/data/laion2025"
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true;
      [ -n "$new" ] && git worktree remove --force "$tmp/new" >/dev/null 2>&1 || true;
      rm -rf "$tmp"' EXIT

run_all() {  # SRC OUT
    local src=$1 out=$2
    mkdir -p "$out"
    local s=(env PYTHONPATH="$src" "$py" -m scalecmp)
    local d="$data/datacomp_cosine_best.csv"
    local w=(--where downstream_dataset=imagenet1k --where 'model_type!=coca'
             --where 'model_type!=siglip')
    "${s[@]}" fit "$d" --maximize --by model_type "${w[@]}" --predict-at 1e12,1e13 \
        --json "$out/fit.json" -q 2>"$out/fit.err" || true
    "${s[@]}" fit "$d" --maximize --by model_type "${w[@]}" --law saturating \
        --n-bootstrap 200 --json "$out/fit_sat.json" -q 2>"$out/fit_sat.err" || true
    "${s[@]}" fit "$d" --maximize --by model_type --where downstream_dataset=imagenet1k \
        --preset laion2025 --n-bootstrap 100 --json "$out/fit_preset.json" -q \
        2>"$out/fit_preset.err" || true
    "${s[@]}" fit "$d" --maximize --by model_type "${w[@]}" --law chinchilla \
        --x2 samples_seen --n-bootstrap 100 --json "$out/fit_chin.json" -q \
        2>"$out/fit_chin.err" || true
    "${s[@]}" compare "$d" --maximize --by model_type "${w[@]}" --at 1e10,1e11,1e12 \
        --json "$out/compare.json" -q 2>"$out/compare.err" || true
    "${s[@]}" optimal "$d" --by model_type --maximize "${w[@]}" --predict-at 1e12 \
        --json "$out/optimal.json" -q 2>"$out/optimal.err" || true
    "${s[@]}" fit "$d" --maximize --by model_type "${w[@]}" --predict-at 1e12 \
        >"$out/fit.stdout" 2>&1 || true
    "${s[@]}" compare "$d" --maximize --by model_type "${w[@]}" --at 1e11 \
        >"$out/compare.stdout" 2>&1 || true
    "${s[@]}" report "$d" --out "$out/report" --by model_type --maximize \
        --series downstream_dataset --series metric --where 'model_type!=coca' \
        --where 'model_type!=siglip' --where downstream_dataset=imagenet1k -q \
        --n-bootstrap 200 2>"$out/report.err" || true
    "${s[@]}" report "$data/segmentation_results.parquet" --out "$out/report2" \
        --x gflops --y miou --maximize -q --n-bootstrap 100 --by namespace \
        2>"$out/report2.err" || true
    find "$out" -name 'report.*' -exec sed -i 's/generated [0-9-]* [0-9:]* UTC/generated T/' {} +
}

git worktree add --detach -q "$tmp/old" "$old"
run_all "$tmp/old/src" "$tmp/out-old"
if [ -n "$new" ]; then
    git worktree add --detach -q "$tmp/new" "$new"
    run_all "$tmp/new/src" "$tmp/out-new"
else
    run_all "$root/src" "$tmp/out-new"
fi
if diff -r "$tmp/out-old" "$tmp/out-new"; then
    echo "identical: $(find "$tmp/out-new" -type f | wc -l) files"
else
    echo "outputs differ"; exit 1
fi
