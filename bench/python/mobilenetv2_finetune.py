"""Reference for bench/train.bench: PyTorch 1.13 full fine-tuning of torchvision's MobileNetV2 at 224x224,
batch 16, Adam 1e-4, on this CPU.

  mobilenetv2_finetune.py [THREADS] [STEPS] [SIZE]
      speed only (SIZE x SIZE input, default 224) (random weights and data: the speed is the same): one JSON line with images/s and seconds per
      epoch of the 425 training images.

  mobilenetv2_finetune.py --train DIR [--threads N] [--epochs N] [--target AUC] [--seed N]
      real fine-tuning from OUR ImageNet weights (DIR/weights.json + weights.bin, written by bench/train.bench:
      the dequantised mobilenetv2-12-int8.onnx convolutions with BatchNorm folded; torchvision's BatchNorm
      layers become a per-channel bias), on DIR/train.u8 (the working images, 256x256 grey, the same pixels
      our pipeline starts from) with random flips and random resized crops (scale 0.5-1) each epoch, and
      val AUC after every epoch on DIR/val.f32 (our identity + mirror views, P averaged). One JSON line per
      epoch, wall seconds counted from the start of the script (weights and data loading included).
"""
import json, sys, time, argparse

T0 = time.perf_counter()
try:
    import torch, torchvision
    import numpy as np
except ImportError as e:
    print(json.dumps({"error": f"PyTorch not installed ({e}); apt-get install python3-torch python3-torchvision"}))
    sys.exit(0)


def speed(threads, steps, size=224):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(num_classes=2).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(16, 3, size, size)
    y = torch.randint(0, 2, (16,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ips = 16 * steps / (time.perf_counter() - t0)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "size": size, "images_per_s": ips, "epoch_s": 425 / ips}))


class Bias(torch.nn.Module):
    """A folded BatchNorm: y = x + b per channel."""
    def __init__(self, b):
        super().__init__()
        self.b = torch.nn.Parameter(b.view(1, -1, 1, 1).clone())

    def forward(self, x):
        return x + self.b


def load_ours(d):
    meta = json.load(open(f"{d}/weights.json"))
    flat = np.fromfile(f"{d}/weights.bin", dtype=np.float32)
    net = torchvision.models.mobilenet_v2(num_classes=2)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(meta) == 52, (len(convs), len(meta))
    biases = []
    for conv, e in zip(convs, meta):
        w = torch.from_numpy(flat[e["offset"]:e["offset"] + int(np.prod(e["shape"]))].reshape(e["shape"]).copy())
        assert tuple(conv.weight.shape) == tuple(e["shape"]), (e["name"], conv.weight.shape, e["shape"])
        conv.weight.data.copy_(w)
        biases.append(torch.from_numpy(flat[e["biasOffset"]:e["biasOffset"] + e["shape"][0]].copy()))
    # Replace the 52 BatchNorm2d (each right after its conv, in the same order) by the folded biases.
    # named_modules() is the definition order, in which each BatchNorm2d directly follows its conv.
    bns = [n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 52, len(bns)
    for k, n in enumerate(bns):
        parent_name, _, child = n.rpartition(".")
        setattr(net.get_submodule(parent_name), child, Bias(biases[k]))
    return net


def auc(y, s):
    y = np.asarray(y); s = np.asarray(s)
    pos, neg = s[y == 1], s[y == 0]
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    d = a.train
    info = json.load(open(f"{d}/data.json"))
    W, S = info["workingSize"], info["inputSize"]
    xtr = torch.from_numpy(np.fromfile(f"{d}/train.u8", dtype=np.uint8).reshape(-1, 1, W, W).copy())
    ytr = torch.tensor(info["trainLabels"])
    xva = torch.from_numpy(np.fromfile(f"{d}/val.f32", dtype=np.float32).reshape(-1, 1, S, S).copy())
    yva = info["valLabels"]
    vviews = info["valViews"]
    net = load_ours(d)
    if a.check:
        net.eval()
        with torch.no_grad():
            m = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1); sd = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            f = net.features((xva[:2].repeat(1, 3, 1, 1) - m) / sd).mean((2, 3))
        print(json.dumps({"event": "check", "f18_first": f[:, :4].tolist()}), flush=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    norm = lambda g: (g.repeat(1, 3, 1, 1) - mean) / std
    aug = torchvision.transforms.Compose([
        torchvision.transforms.RandomResizedCrop(S, scale=(0.5, 1.0)),
        torchvision.transforms.RandomHorizontalFlip(),
    ])
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    reached = None
    print(json.dumps({"event": "start", "torch": torch.__version__, "threads": torch.get_num_threads(), "train": len(ytr), "val": len(yva), "setup_s": time.perf_counter() - T0}), flush=True)
    for epoch in range(1, a.epochs + 1):
        net.train()
        perm = torch.randperm(len(ytr))
        t_ep = time.perf_counter()
        total = 0.0
        for s in range(0, len(perm), 16):
            idx = perm[s:s + 16]
            xb = torch.stack([aug(xtr[i].float() / 255.0) for i in idx.tolist()])
            opt.zero_grad()
            loss = loss_fn(net(norm(xb)), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        train_s = time.perf_counter() - t_ep
        net.eval()
        with torch.no_grad():
            p = torch.cat([torch.softmax(net(norm(xva[i:i + 32])), 1)[:, 1] for i in range(0, len(xva), 32)]).numpy()
        scores = p.reshape(-1, vviews).mean(1)
        v = auc(yva, scores)
        wall = time.perf_counter() - T0
        if reached is None and v >= a.target:
            reached = {"epoch": epoch, "wall_s": wall}
        print(json.dumps({"event": "epoch", "epoch": epoch, "loss": total / len(perm), "val_auc": v, "train_s": train_s,
                          "images_per_s": len(perm) / train_s, "wall_s": wall}), flush=True)
    print(json.dumps({"event": "done", "reached": reached, "target": a.target, "wall_s": time.perf_counter() - T0}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--train":
        ap = argparse.ArgumentParser()
        ap.add_argument("--train")
        ap.add_argument("--threads", type=int, default=2)
        ap.add_argument("--epochs", type=int, default=8)
        ap.add_argument("--target", type=float, default=0.8816)
        ap.add_argument("--seed", type=int, default=0)
        ap.add_argument("--check", action="store_true")
        train(ap.parse_args())
    else:
        speed(int(sys.argv[1]) if len(sys.argv) > 1 else 2, int(sys.argv[2]) if len(sys.argv) > 2 else 6,
              int(sys.argv[3]) if len(sys.argv) > 3 else 224)
