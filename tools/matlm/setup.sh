#!/usr/bin/env bash
# Installs what tools/matlm needs on Debian 12 (run as root): CPU PyTorch, sentencepiece (spm_train and
# the Python module), numpy, the corpus packages, and transformers (only for measure.py's HF check).
# Everything runs with Debian's /usr/bin/python3.
set -euo pipefail
apt-get install -y --no-install-recommends \
  python3-torch python3-numpy python3-sentencepiece sentencepiece libopenblas0-pthread \
  bible-kjv bible-kjv-text fortunes fortunes-min python3-pip
if ! /usr/bin/python3 -c "import transformers, safetensors" 2>/dev/null; then
  # 4.40.2 is the last transformers release that supports Debian's torch 1.13.
  /usr/bin/python3 -m pip install --break-system-packages "transformers==4.40.2"
fi
/usr/bin/python3 -c "import torch, sentencepiece, numpy; print('torch', torch.__version__)"
