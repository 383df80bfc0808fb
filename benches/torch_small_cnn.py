"""PyTorch CPU anchor for the SmallCnn (constnet::models::SmallCnn): training and evaluation throughput.

Set-up (about 5 GB):  python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
Run:                  .venv-torch/bin/python torch_small_cnn.py --threads 2 --batch 10,64
Prints one JSON object: images per second per batch size. Compare with constnet in the same run.
"""
import argparse, json, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", default="10,64")
p.add_argument("--images", type=int, default=6400)
a = p.parse_args()
torch.manual_seed(0)
torch.set_num_threads(a.threads)


def small_cnn():
    gelu = lambda: nn.GELU(approximate="tanh")
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), gelu(),
        nn.Conv2d(16, 32, 3, stride=2), gelu(),
        nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(1568, 100), gelu(), nn.Linear(100, 20))


out = {"threads": a.threads, "images": a.images, "torch": torch.__version__, "batch": {}}
x_all = torch.randn(a.images, 3, 32, 32)
y_all = torch.randint(0, 20, (a.images,))
for bs in [int(b) for b in a.batch.split(",")]:
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    steps = a.images // bs
    for i in range(5):  # warm-up
        opt.zero_grad(); loss_fn(model(x_all[:bs]), y_all[:bs]).backward(); opt.step()
    t = time.perf_counter()
    for i in range(steps):
        xb, yb = x_all[i * bs:(i + 1) * bs], y_all[i * bs:(i + 1) * bs]
        opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step()
    train = steps * bs / (time.perf_counter() - t)
    with torch.no_grad():
        t = time.perf_counter()
        for i in range(0, a.images, 1000):
            model(x_all[i:i + 1000])
        evaluate = a.images / (time.perf_counter() - t)
    out["batch"][str(bs)] = {"train_images_per_sec": round(train, 1), "eval_images_per_sec": round(evaluate, 1)}
print(json.dumps(out))
