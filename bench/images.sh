# Sourced by the benchmark scripts: sets root, models, data and imgs, the
# 38-photo set (face_recognition's test data and face-api's 6 samples).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
models=${FACEREC_MODELS:-$root/models}
data=$root/../shared/testdata/face_recognition
mapfile -t imgs < <(find "$data" -type f \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' \) | sort)
imgs+=("$models"/samples/sample{1,2,3,4,5,6}.jpg)
