"""Reference for bench/train.bench: one PyTorch 1.13 training step = full fine-tuning of torchvision's
MobileNetV2 at 224x224, batch 16, Adam 1e-4, on this CPU (weights random: the speed is the same). Prints one
JSON line with images/s and seconds per epoch of the 425 training images."""
import json, sys, time
try:
    import torch, torchvision
except ImportError as e:
    print(json.dumps({"error": f"PyTorch not installed ({e}); apt-get install python3-torch python3-torchvision"}))
    sys.exit(0)
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
torch.manual_seed(0)
net = torchvision.models.mobilenet_v2(num_classes=2).train()
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
x = torch.rand(16, 3, 224, 224)
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
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "images_per_s": ips, "epoch_s": 425 / ips}))
