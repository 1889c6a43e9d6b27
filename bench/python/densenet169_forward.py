"""Reference for bench/predict.bench: the seed project's DenseNet-169 (torchvision, untrained weights, which
time the same as trained ones) forward on CPU with PyTorch, model only, at 224x224. Prints one JSON line."""
import json, sys, time
try:
    import torch, torchvision
except ImportError as e:
    print(json.dumps({"error": f"PyTorch not installed ({e}); apt-get install python3-torch python3-torchvision"}))
    sys.exit(0)
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
net = torchvision.models.densenet169(num_classes=2).eval()
out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
with torch.no_grad():
    for batch, reps in ((1, 24), (16, 8)):
        x = torch.rand(batch, 3, 224, 224)
        net(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(reps):
            net(x)
        out[f"b{batch}"] = batch * reps / (time.perf_counter() - t0)
print(json.dumps(out))
