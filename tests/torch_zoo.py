"""Hand-written PyTorch versions of the zoo networks (no torchvision), with torchvision's
module names, for the zoo cross-checks. ``w`` scales filters and hidden units as the
zoo's ``width`` argument does; ``flat`` is the flattened size before the first Linear."""
import torch
from torch import nn


def scaled(width):
    return lambda n: max(1, int(round(n * width)))


# ----------------------------------------------------------------------------- AlexNet
class AlexNet(nn.Module):
    def __init__(self, variant, num_classes, width, flat, dropout=0.0):
        super().__init__()
        w = scaled(width)
        if variant == "pytorch-seed-bn":
            def block(cin, cout, k, s, p, pool):
                mods = [nn.Conv2d(cin, cout, k, s, p), nn.BatchNorm2d(cout), nn.ReLU()]
                return nn.Sequential(*(mods + [nn.MaxPool2d(3, 2)] if pool else mods))
            self.layer1 = block(3, w(96), 11, 4, 0, True)
            self.layer2 = block(w(96), w(256), 5, 1, 2, True)
            self.layer3 = block(w(256), w(384), 3, 1, 1, False)
            self.layer4 = block(w(384), w(384), 3, 1, 1, False)
            self.layer5 = block(w(384), w(256), 3, 1, 1, True)
            self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(flat, w(4096)), nn.ReLU())
            self.fc1 = nn.Sequential(nn.Dropout(dropout), nn.Linear(w(4096), w(4096)), nn.ReLU())
            self.fc2 = nn.Linear(w(4096), num_classes)
            self.variant = variant
            return
        if variant == "original":
            lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
            self.features = nn.Sequential(
                nn.Conv2d(3, w(96), 11, 4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
                nn.Conv2d(w(96), w(256), 5, padding=2, groups=2), nn.ReLU(), lrn(),
                nn.MaxPool2d(3, 2),
                nn.Conv2d(w(256), w(384), 3, padding=1), nn.ReLU(),
                nn.Conv2d(w(384), w(384), 3, padding=1, groups=2), nn.ReLU(),
                nn.Conv2d(w(384), w(256), 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        elif variant == "torchvision":
            self.features = nn.Sequential(
                nn.Conv2d(3, w(64), 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(w(64), w(192), 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(w(192), w(384), 3, padding=1), nn.ReLU(),
                nn.Conv2d(w(384), w(256), 3, padding=1), nn.ReLU(),
                nn.Conv2d(w(256), w(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        elif variant == "keras-seed":
            self.features = nn.Sequential(
                nn.Conv2d(3, w(64), 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(w(64), w(192), 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(w(192), w(384), 3, padding=1), nn.ReLU(),
                nn.Conv2d(w(384), w(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        if variant == "keras-seed":
            self.classifier = nn.Sequential(
                nn.Linear(flat, w(4096)), nn.ReLU(), nn.Linear(w(4096), w(4096)), nn.ReLU(),
                nn.Linear(w(4096), num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(flat, w(4096)), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(w(4096), w(4096)), nn.ReLU(), nn.Linear(w(4096), num_classes))
        self.variant = variant

    def forward(self, x):
        if self.variant == "pytorch-seed-bn":
            for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
                x = layer(x)
            return self.fc2(self.fc1(self.fc(torch.flatten(x, 1))))
        x = self.features(x)
        if self.variant == "torchvision":
            x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- VGG
class VGG(nn.Module):
    def __init__(self, config, batch_norm, width, cifar, num_classes, dropout=0.0):
        super().__init__()
        w = scaled(width)
        layers, cin = [], 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, w(item), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(w(item)))
            layers.append(nn.ReLU())
            cin = w(item)
        self.features = nn.Sequential(*layers)
        self.cifar = cifar
        if cifar:
            self.classifier = nn.Linear(cin, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(cin * 49, w(4096)), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(w(4096), w(4096)), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(w(4096), num_classes))

    def forward(self, x):
        x = self.features(x)
        if not self.cifar:
            x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- GoogLeNet
class ConvUnit(nn.Module):
    """torchvision's BasicConv2d (conv, BN eps 1e-3, ReLU) or the paper's conv + ReLU."""

    def __init__(self, cin, cout, paper, **kwargs):
        super().__init__()
        self.paper = paper
        self.conv = nn.Conv2d(cin, cout, bias=paper, **kwargs)
        if not paper:
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        return torch.relu(x if self.paper else self.bn(x))


class Inception(nn.Module):
    def __init__(self, cin, b1, b3r, b3, b5r, b5, bp, paper):
        super().__init__()
        k = 5 if paper else 3
        self.branch1 = ConvUnit(cin, b1, paper, kernel_size=1)
        self.branch2 = nn.Sequential(ConvUnit(cin, b3r, paper, kernel_size=1),
                                     ConvUnit(b3r, b3, paper, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(ConvUnit(cin, b5r, paper, kernel_size=1),
                                     ConvUnit(b5r, b5, paper, kernel_size=k, padding=k // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True),
                                     ConvUnit(cin, bp, paper, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes, paper, flat):
        super().__init__()
        self.pool = nn.AvgPool2d(5, 3) if paper else nn.AdaptiveAvgPool2d((4, 4))
        self.conv = ConvUnit(cin, 128, paper, kernel_size=1)
        self.fc1 = nn.Linear(flat, 1024)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(torch.relu(self.fc1(x)))          # dropout 0 in the tests


class GoogLeNet(nn.Module):
    SPECS = [("inception3a", (192, 64, 96, 128, 16, 32, 32)),
             ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
             ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
             ("inception4b", (512, 160, 112, 224, 24, 64, 64)),
             ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
             ("inception4d", (512, 112, 144, 288, 32, 64, 64)),
             ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
             ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
             ("inception5b", (832, 384, 192, 384, 48, 128, 128))]

    def __init__(self, num_classes, aux_logits, paper, aux_flat=2048):
        super().__init__()
        self.paper, self.aux_logits = paper, aux_logits
        self.conv1 = ConvUnit(3, 64, paper, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = ConvUnit(64, 64, paper, kernel_size=1)
        self.conv3 = ConvUnit(64, 192, paper, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        for name, spec in self.SPECS:
            setattr(self, name, Inception(*spec, paper=paper))
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(3, 2, ceil_mode=True) if paper else nn.MaxPool2d(2, 2, ceil_mode=True)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, paper, aux_flat)
            self.aux2 = InceptionAux(528, num_classes, paper, aux_flat)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        if self.paper:
            x = self.lrn(x)
        x = self.conv3(self.conv2(x))
        if self.paper:
            x = self.lrn(x)
        x = self.maxpool2(x)
        aux = []
        for name, _ in self.SPECS:
            if name == "inception4a":
                x = self.maxpool3(x)
            if name == "inception5a":
                x = self.maxpool4(x)
            x = getattr(self, name)(x)
            if self.aux_logits and name in ("inception4a", "inception4d"):
                aux.append((self.aux1 if name == "inception4a" else self.aux2)(x))
        x = self.fc(torch.flatten(x.mean(dim=(2, 3), keepdim=True), 1))
        return [x] + aux if self.aux_logits else x


# ----------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, block, blocks, num_classes, cifar=False, widths=(64, 128, 256, 512)):
        super().__init__()
        self.cifar = cifar
        stem = widths[0]
        self.conv1 = (nn.Conv2d(3, stem, 3, 1, 1, bias=False) if cifar else
                      nn.Conv2d(3, stem, 7, 2, 3, bias=False))
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem
        for i, (planes, count) in enumerate(zip(widths, blocks)):
            stage = []
            for j in range(count):
                stage.append(block(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.stages = len(blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = self.maxpool(x)
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(x.mean(dim=(2, 3)), 1))
