#!/usr/bin/env bash
# The whole suite: lint + format check, type-check + build (proves the published package
# compiles), then every test file under test/ with node's test runner (tsx loads the TypeScript).
set -euo pipefail
cd "$(dirname "$0")/.."
npx biome check --error-on-warnings
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.build.json
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/.gen/*' | sort)
# spec reporter: its last lines list every failing test with its error, which is what a CI log tail shows.
exec node --import tsx --test --test-reporter=spec --test-concurrency=2 --test-timeout=600000 "${files[@]}"
