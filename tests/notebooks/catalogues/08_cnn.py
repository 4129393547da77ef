"""08_cnn's bug catalogue: realistic mistakes in ``Conv2D``, ``MaxPool2D``, ``UntiedBiasConv2d`` and
``ConvNet`` and the graded cells each loses; equivalent answers that keep full marks.
Run by tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

INIT, FORWARD, DX, PARAMS, STATE = ("test_conv_init", "test_conv_forward", "test_conv_backward_dx",
                                    "test_conv_backward_params", "test_conv_state")
POOL_F, POOL_B, UNTIED, CONVNET = ("test_maxpool_forward", "test_maxpool_backward", "test_untied_conv",
                                   "test_convnet")

# The reference lines the catalogue rewrites.
B_INIT = "self.b = np.array(bias_init_fn(out_channels), dtype=np.float64).reshape(out_channels)"
PAD = "x_pad = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (p, p), (p, p)))   # a new array"
WINDOWS = "self.windows = sliding_window_view(x_pad, (k, k), axis=(2, 3))[:, :, ::s, ::s]"
Y = "y = np.tensordot(self.windows, self.W, axes=([1, 4, 5], [1, 2, 3]))   # (B, H_out, W_out, out)"
SHAPE = "self.x_shape = x.shape"
DB = "self.db = delta.sum(axis=(0, 2, 3))"
DW = "self.dW = np.tensordot(delta, self.windows, axes=([0, 2, 3], [0, 2, 3]))     # (out, in, k, k)"
DWIN = "dwindows = np.tensordot(delta, self.W, axes=([1], [0]))                       # (B, H_out, W_out, in, k, k)"
SCATTER = "dx_pad[:, :, u:u + s * H_out:s, v:v + s * W_out:s] += "
CROP = "return dx_pad[:, :, p:p + H, p:p + W]"
ARGMAX = "self.argmax = flat.argmax(axis=-1)              # the first maximum in row-major order"
ADD_AT = "np.add.at(dx, (n, c, rows, cols), delta)        # adds where windows overlap"
POOL_STRIDE = "self.stride = kernel_size if stride is None else stride"
UNTIED_BIAS = "self.bias = nn.Parameter(torch.zeros(out_channels, h_out, w_out))"
CONV_LAYER = "nn.Conv2d(channels, entry, kernel_size=3, padding=1, bias=False)"
POOL_LAYER = "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"


def conv(old: str, new: str) -> Edit:
    return ("conv2d", old, new)


def backward(old: str, new: str) -> Edit:
    return ("conv2d_backward", old, new)


def pool(old: str, new: str) -> Edit:
    return ("maxpool", old, new)


def untied(old: str, new: str) -> Edit:
    return ("untied_conv", old, new)


def convnet(old: str, new: str) -> Edit:
    return ("convnet", old, new)


def edit(*changes: Edit) -> list[Edit]:
    return list(changes)


FLIP_Y = "y = np.tensordot(self.windows, self.W[:, :, ::-1, ::-1], axes=([1, 4, 5], [1, 2, 3]))"

# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[list[Edit], set[str]]] = {
    # Conv2D forward
    "true convolution (flipped kernel) in forward and backward": (
        edit(conv(Y, FLIP_Y),
             backward(DW, "self.dW = np.tensordot(delta, self.windows, axes=([0, 2, 3], [0, 2, 3]))[:, :, ::-1, ::-1]"),
             backward(DWIN, "dwindows = np.tensordot(delta, self.W[:, :, ::-1, ::-1], axes=([1], [0]))")),
        {FORWARD, DX, PARAMS, STATE}),
    "true convolution (flipped kernel) in forward only": (edit(conv(Y, FLIP_Y)), {FORWARD}),
    "forward without the bias": (
        edit(conv("return y.transpose(0, 3, 1, 2) + self.b.reshape(1, -1, 1, 1)", "return y.transpose(0, 3, 1, 2)")),
        {FORWARD}),
    "stride ignored in forward (windows at every position)": (
        edit(conv(WINDOWS, "self.windows = sliding_window_view(x_pad, (k, k), axis=(2, 3))")),
        {FORWARD, DX, PARAMS, STATE}),
    "padding by slicing p:-p (empty when padding = 0)": (
        edit(conv(PAD, "x_pad = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * p, x.shape[3] + 2 * p))\n"
                       "        x_pad[:, :, p:-p, p:-p] = x")),
        {FORWARD, DX, PARAMS}),
    "forward uses copies of W, b kept from __init__": (
        edit(conv("self.windows = None     # (B, in, H_out, W_out, k, k) view of the last padded input",
                  "self.windows = None\n        self._W0, self._b0 = self.W.copy(), self.b.copy()"),
             conv(Y, Y.replace("self.W,", "self._W0,")),
             conv("+ self.b.reshape(1, -1, 1, 1)", "+ self._b0.reshape(1, -1, 1, 1)")),
        {FORWARD}),
    "b stored as (1, out) as in 04": (edit(conv(B_INIT, B_INIT.replace(".reshape(out_channels)", ".reshape(1, -1)"))),
                                      {INIT}),
    "default weights of shape (in, out, k, k)": (
        edit(conv("size=shape)", "size=(in_channels, out_channels, kernel_size, kernel_size))")), {INIT}),
    # Conv2D backward: padding and stride
    "padding ignored in backward (dx_pad returned)": (edit(backward(CROP, "return dx_pad")), {DX, STATE}),
    "stride ignored in backward (windows scattered at step 1)": (
        edit(backward(SCATTER, "dx_pad[:, :, u:u + H_out, v:v + W_out] += ")), {DX}),
    "windows assigned instead of added in col2im": (
        edit(backward(SCATTER + "dwindows", "dx_pad[:, :, u:u + s * H_out:s, v:v + s * W_out:s] = dwindows")),
        {DX, STATE}),
    # Conv2D backward: parameters
    "db not summed over positions (B only)": (edit(backward(DB, "self.db = delta.sum(axis=0)")), {PARAMS, STATE}),
    "db not summed over the batch": (edit(backward(DB, "self.db = delta.sum(axis=(2, 3))")), {PARAMS, STATE}),
    "dW transposed (in and out swapped)": (
        edit(backward(DW, "self.dW = np.einsum('bchwuv,bohw->couv', self.windows, delta)")), {PARAMS, STATE}),
    "dW and db divided by B": (
        edit(backward(DW, DW + " / delta.shape[0]"), backward(DB, DB + " / delta.shape[0]")), {PARAMS, STATE}),
    "dW, db accumulated (+=) instead of overwritten": (
        edit(backward(DW, DW.replace("self.dW =", "self.dW +=")), backward(DB, DB.replace("self.db =", "self.db +="))),
        {STATE}),
    "the caller's x used as the dx buffer when padding = 0": (
        edit(conv(PAD, "x_pad = x if p == 0 else np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))\n"
                       "        self.x_pad = x_pad"),
             backward("dx_pad = np.zeros((B, C, H + 2 * p, W + 2 * p))",
                      "dx_pad = self.x_pad if p == 0 else np.zeros((B, C, H + 2 * p, W + 2 * p))\n"
                      "    dx_pad[...] = 0.0")),
        {DX}),
    "input shape stored on the first forward only": (
        edit(conv(SHAPE, "if self.x_shape is None:\n            self.x_shape = x.shape")), {STATE}),
    "W updated inside backward": (
        edit(backward(CROP, "self.W = self.W - 0.1 * self.dW\n    " + CROP)), {STATE}),
    "delta doubled in place and halved later": (
        edit(backward(DB, "delta *= 1.0\n    delta += 0.0\n    delta[...] = delta * 2\n    " + DB + " / 2"),
             backward(DW, DW.replace(")     #", ") / 2     #")), backward(DWIN, DWIN.replace(")      ", ") / 2  "))),
        {DX}),
    # MaxPool2D
    "max-pool gradient sent to every position of the window": (
        edit(pool(ADD_AT, "for a in range(k * k):\n"
                          "            np.add.at(dx, (n, c, s * np.arange(H_out).reshape(1, 1, -1, 1) + a // k,\n"
                          "                           s * np.arange(W_out).reshape(1, 1, 1, -1) + a % k), delta)")),
        {POOL_B}),
    "gradient to the last maximum on ties": (
        edit(pool(ARGMAX, "self.argmax = k * k - 1 - flat[..., ::-1].argmax(axis=-1)")), {POOL_B}),
    "gradient assigned instead of added (overlapping windows)": (
        edit(pool(ADD_AT, "dx[n, c, rows, cols] = delta")), {POOL_B}),
    "stride None not replaced by the kernel size": (
        edit(pool(POOL_STRIDE, "self.stride = stride")), {POOL_F, POOL_B}),
    "pooling stride fixed to the kernel size": (
        edit(pool(POOL_STRIDE, "self.stride = kernel_size")), {POOL_F, POOL_B}),
    # UntiedBiasConv2d
    "untied bias of shape (out,) (a tied bias)": (
        edit(untied(UNTIED_BIAS, "self.bias = nn.Parameter(torch.zeros(out_channels))"),
             untied("return F.conv2d(x, self.weight, padding=self.padding) + self.bias",
                    "return F.conv2d(x, self.weight, self.bias, padding=self.padding)")),
        {UNTIED}),
    "untied bias sized without the padding": (
        edit(untied("h_out = height + 2 * padding - kernel_size + 1", "h_out = height - kernel_size + 1"),
             untied("w_out = width + 2 * padding - kernel_size + 1", "w_out = width - kernel_size + 1"),
             untied("return F.conv2d(x, self.weight, padding=self.padding) + self.bias",
                    "return F.conv2d(x, self.weight, padding=self.padding) + "
                    "F.pad(self.bias, [self.padding] * 4)")),
        {UNTIED}),
    "untied bias as a plain tensor (not a Parameter)": (
        edit(untied(UNTIED_BIAS, "self.bias = torch.zeros(out_channels, h_out, w_out)")), {UNTIED}),
    "padding ignored in the untied forward": (
        edit(untied("return F.conv2d(x, self.weight, padding=self.padding) + self.bias",
                    "return F.pad(F.conv2d(x, self.weight), [self.padding] * 4) + self.bias")),
        {UNTIED}),
    # ConvNet
    "ConvNet: a bias in every convolution before BatchNorm": (
        edit(convnet(CONV_LAYER, CONV_LAYER.replace("bias=False", "bias=True"))), {CONVNET}),
    "ConvNet: 2x2 pooling (the map vanishes before the fifth pool)": (
        edit(convnet(POOL_LAYER, "nn.MaxPool2d(kernel_size=2, stride=2)")), {CONVNET}),
    "ConvNet: no BatchNorm": (
        edit(convnet("nn.BatchNorm2d(entry), nn.ReLU(inplace=True)", "nn.ReLU(inplace=True)")), {CONVNET}),
    "ConvNet: default width 16": (
        edit(convnet("def __init__(self, n_channels, n_classes, width=64):",
                     "def __init__(self, n_channels, n_classes, width=16):")), {CONVNET}),
}

TRANSPOSED = """
def backward(self, delta):
    k, s, p = self.kernel_size, self.stride, self.padding
    B, C, H, W = self.x_shape
    H_out, W_out = delta.shape[2], delta.shape[3]
    self.db = delta.sum(axis=(0, 2, 3))
    self.dW = np.tensordot(delta, self.windows, axes=([0, 2, 3], [0, 2, 3]))
    # dx_pad is the cross-correlation of the zero-dilated, (k-1)-padded delta with the flipped kernel.
    dilated = np.zeros((B, delta.shape[1], s * (H_out - 1) + 1, s * (W_out - 1) + 1))
    dilated[:, :, ::s, ::s] = delta
    extra_h = H + 2 * p - (s * (H_out - 1) + k)      # rows no window reached (the floor)
    extra_w = W + 2 * p - (s * (W_out - 1) + k)
    dilated = np.pad(dilated, ((0, 0), (0, 0), (k - 1, k - 1 + extra_h), (k - 1, k - 1 + extra_w)))
    windows = sliding_window_view(dilated, (k, k), axis=(2, 3))          # (B, out, H + 2p, W + 2p, k, k)
    dx_pad = np.einsum('bohwuv,ocuv->bchw', windows, self.W[:, :, ::-1, ::-1], optimize=True)
    return dx_pad[:, :, p:p + H, p:p + W]


Conv2D.backward = backward
"""

# Equivalent solutions: full marks.
ALTERNATIVES: dict[str, list[Edit]] = {
    "forward via np.einsum": edit(conv(Y, "y = np.einsum('bchwuv,ocuv->bhwo', self.windows, self.W, optimize=True)")),
    "forward via explicit im2col and one matrix product": edit(conv(Y, (
        "B, C, H_out, W_out = self.windows.shape[:4]\n"
        "        cols = self.windows.transpose(0, 2, 3, 1, 4, 5).reshape(B * H_out * W_out, C * k * k)\n"
        "        y = (cols @ self.W.reshape(self.W.shape[0], -1).T).reshape(B, H_out, W_out, -1)"))),
    "dW and db via np.einsum": edit(
        backward(DW, "self.dW = np.einsum('bohw,bchwuv->ocuv', delta, self.windows, optimize=True)"),
        backward(DB, "self.db = np.einsum('bohw->o', delta)")),
    "dx as a transposed convolution (dilate, pad, flipped kernel)": edit(("conv2d_backward", None, TRANSPOSED)),
    "x copied and stored, windows rebuilt in backward": edit(
        conv(SHAPE, "self.x_shape = x.shape\n        self.x = x.copy()"),
        backward(DW, "xp = np.pad(self.x, ((0, 0), (0, 0), (p, p), (p, p)))\n"
                     "    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]\n"
                     "    self.dW = np.tensordot(delta, win, axes=([0, 2, 3], [0, 2, 3]))")),
    "max pool backward with a one-hot mask per window": edit(pool(ADD_AT, (
        "onehot = np.eye(k * k)[self.argmax] * delta[..., None]          # (B, C, H_out, W_out, k*k)\n"
        "        onehot = onehot.reshape(*onehot.shape[:4], k, k)\n"
        "        for u in range(k):\n"
        "            for v in range(k):\n"
        "                dx[:, :, u:u + s * H_out:s, v:v + s * W_out:s] += onehot[..., u, v]"))),
    "untied bias with torch's _pair and an explicit broadcast": edit(
        untied("height, width = (input_size, input_size) if isinstance(input_size, int) else input_size",
               "height, width = nn.modules.utils._pair(input_size)"),
        untied("return F.conv2d(x, self.weight, padding=self.padding) + self.bias",
               "return F.conv2d(x, self.weight, padding=self.padding) + self.bias.unsqueeze(0).expand(x.shape[0], "
               "-1, -1, -1)")),
    "ConvNet with F.max_pool2d in forward and a ModuleList": edit(
        convnet("layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))", "layers.append(None)"),
        convnet("self.features = nn.Sequential(*layers)",
                "self.pool_after = [i for i, layer in enumerate(layers) if layer is None]\n"
                "        self.blocks = nn.ModuleList([layer for layer in layers if layer is not None])\n"
                "        self.order = layers"),
        convnet("return self.classifier(torch.flatten(self.features(x), 1))",
                "it = iter(self.blocks)\n"
                "        for layer in self.order:\n"
                "            x = F.max_pool2d(x, 3, 2, 1) if layer is None else next(it)(x)\n"
                "        return self.classifier(x.reshape(x.shape[0], -1))")),
}


SAYS = {
    "true convolution (flipped kernel) in forward only": "true convolution",
    "forward without the bias": "bias is missing",
    "db not summed over positions (B only)": "sum over (B, H_out, W_out)",
    "dW transposed (in and out swapped)": "transposed",
    "dW and db divided by B": "divided by B",
    "dW, db accumulated (+=) instead of overwritten": "must overwrite",
    "the caller's x used as the dx buffer when padding = 0": "modified an array it was given",
    "delta doubled in place and halved later": "modified an array it was given",
    "max-pool gradient sent to every position of the window": "every position of the window",
    "gradient to the last maximum on ties": "first maximum in row-major order",
    "untied bias of shape (out,) (a tied bias)": "(out_channels, H_out, W_out)",
    "ConvNet: a bias in every convolution before BatchNorm": "bias=False",
    "forward uses copies of W, b kept from __init__": "as they are now",
}

CATALOGUE = Catalogue(
    assignment="08_cnn",
    bugs=[Bug(name, edits, loses, says=SAYS.get(name, "")) for name, (edits, loses) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    buggy_sample=("stride ignored in backward (windows scattered at step 1)",
                  "gradient to the last maximum on ties"),
)
