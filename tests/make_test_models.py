"""Writes the small synthetic models the C tests load (idempotent)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTH = os.path.join(HERE, "..", "models", "synth.py")

MODELS = {
    "llama-f32.gguf": ["--arch", "llama", "--shape", "tiny", "--type", "F32", "--seed", "11"],
    "qwen3-q8.gguf": ["--arch", "qwen3", "--shape", "tiny", "--type", "Q8_0", "--seed", "12"],
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, args in MODELS.items():
        path = os.path.join(out, name)
        if os.path.exists(path):
            continue
        subprocess.run([sys.executable, SYNTH, *args, "--out", path + ".tmp", "-q"], check=True)
        os.replace(path + ".tmp", path)
    print("test models in", out)


if __name__ == "__main__":
    main()
