"""06_mlp's bug catalogue: realistic mistakes in ``MLP`` and ``get_training_stats`` and the graded cells
each loses; equivalent answers that keep full marks. Run by tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

INIT, FORWARD, BACKWARD, STEP, ZERO, MODES, LOOP, FIGURES = (
    "test_mlp_init", "test_mlp_forward", "test_mlp_backward", "test_mlp_step", "test_mlp_zero_grads",
    "test_mlp_train_eval", "test_training_loop", "test_training_figures")

# The reference lines the catalogue rewrites.
BN_LIST = "self.bn_layers = [blocks.BatchNorm(n) for n in sizes[1:num_bn_layers + 1]]"
FWD_BN = "out = self.bn_layers[i].forward(out, eval=not self.training)"
FWD_LAYER = """            out = layer.forward(out)
            if i < self.num_bn_layers:
                out = self.bn_layers[i].forward(out, eval=not self.training)
            out = activation.forward(out)"""
FWD_END = "self.output = out\n        return out"
TRAIN_BODY = '''"""Train mode: BatchNorm uses batch statistics and updates its running ones."""
        ### BEGIN SOLUTION
        self.training = True'''
STORE_LR = "self.lr, self.momentum = lr, momentum"
DELTA0 = "delta = self.criterion.derivative()"
ACT_DERIV = "delta = delta * self.activations[i].derivative()    # through the activation"
BN_BACK = "delta = self.bn_layers[i].backward(delta)       # through BatchNorm"
W_UPDATE = "layer.W += layer.momentum_W"
B_UPDATE = "layer.b += layer.momentum_b"
MOM_W = "layer.momentum_W *= self.momentum\n        layer.momentum_W -= self.lr * layer.dW"
MOM_B = "layer.momentum_b *= self.momentum\n        layer.momentum_b -= self.lr * layer.db"
BN_STEP = "    for bn in self.bn_layers:\n        bn.gamma -= self.lr * bn.dgamma\n        bn.beta -= self.lr * bn.dbeta\n"
BN_ZERO = "    for bn in self.bn_layers:\n        bn.dgamma = np.zeros_like(bn.gamma)\n        bn.dbeta = np.zeros_like(bn.beta)\n"
ZERO_LINEAR = "layer.db = np.zeros_like(layer.b)"
# get_training_stats
SPLITS = "(X_train, y_train), (X_val, y_val), _ = dset"
SHUFFLE = "order = np.random.permutation(n)            # a new shuffle every epoch, for X and y alike"
EPOCH_LOOP = "for epoch in range(nepochs):\n"
TRAIN_CALL = "        mlp.train()\n        loss_sum"
BATCHES = "for first in range(0, n, batch_size):"
XY = "xb, yb = X_train[batch], y_train[batch]"
BACK_STEP = "mlp.backward(one_hot[yb])\n            mlp.step()"
LOSS_SUM = "loss_sum += mlp.criterion.forward(logits, one_hot[yb]).sum()"
TRAIN_FIGS = "training_losses[epoch] = loss_sum / n\n        training_errors[epoch] = wrong / n"
EVAL_CALL = "        mlp.eval()\n"
VAL_LOSS = "validation_losses[epoch] = mlp.criterion.forward(logits, one_hot[y_val]).mean()"
VAL_ERR = "validation_errors[epoch] = np.mean(logits.argmax(axis=1) != y_val)"
VALIDATION = """        mlp.eval()
        logits = mlp.forward(X_val)
        validation_losses[epoch] = mlp.criterion.forward(logits, one_hot[y_val]).mean()
        validation_errors[epoch] = np.mean(logits.argmax(axis=1) != y_val)
"""


def mlp(old: str, new: str) -> Edit:
    return ("mlp", old, new)


def learning(old: str, new: str) -> Edit:
    return ("mlp_learning", old, new)


def stats(old: str, new: str) -> Edit:
    return ("training", old, new)


def edit(*changes: Edit) -> list[Edit]:
    return list(changes)


# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[list[Edit], set[str]]] = {
    # forward
    "last activation applied twice": (
        edit(mlp(FWD_END, "out = self.activations[-1].forward(out)\n        " + FWD_END)),
        {FORWARD, BACKWARD, STEP, MODES}),
    "BatchNorm after the activation": (
        edit(mlp(FWD_LAYER, """            out = activation.forward(layer.forward(out))
            if i < self.num_bn_layers:
                out = self.bn_layers[i].forward(out, eval=not self.training)""")),
        {FORWARD, BACKWARD, STEP, MODES}),
    "BatchNorm on every hidden layer, not the first num_bn_layers": (
        edit(mlp(BN_LIST, "self.bn_layers = [blocks.BatchNorm(n) for n in sizes[1:-1]]"),
             mlp("if i < self.num_bn_layers:\n                out = self.bn_layers",
                 "if i < len(self.bn_layers):\n                out = self.bn_layers"),
             learning("if i < self.num_bn_layers:", "if i < len(self.bn_layers):")),
        {INIT, FORWARD, BACKWARD, STEP, ZERO, MODES}),
    "eval mode not passed on to BatchNorm": (edit(mlp(FWD_BN, "out = self.bn_layers[i].forward(out)")), {MODES}),
    "BatchNorm mode inverted (eval=self.training)": (
        edit(mlp(FWD_BN, "out = self.bn_layers[i].forward(out, eval=self.training)")),
        {FORWARD, BACKWARD, STEP, MODES}),
    "train() does not switch back to train mode": (edit(mlp(TRAIN_BODY, TRAIN_BODY.replace("True", "False"))),
                                                    {MODES}),
    # backward
    "activation derivative left out of backward": (edit(learning(ACT_DERIV, "pass")), {BACKWARD, STEP}),
    "output layer's activation derivative left out": (
        edit(learning(ACT_DERIV, "if i < len(self.linear_layers) - 1:\n            " + ACT_DERIV)),
        {BACKWARD, STEP}),
    "BatchNorm skipped in backward": (edit(learning(BN_BACK, "pass")), {BACKWARD, STEP}),
    "loss gradient divided by B again": (
        edit(learning(DELTA0, DELTA0 + " / len(labels)")), {BACKWARD, STEP}),
    "logits remembered from the first forward only": (
        edit(mlp(FWD_END, "if self.output is None:\n            self.output = out\n        return out")),
        {BACKWARD, STEP}),
    # step and zero_grads
    "momentum sign flipped (W -= momentum_W)": (
        edit(learning(W_UPDATE, "layer.W -= layer.momentum_W"), learning(B_UPDATE, "layer.b -= layer.momentum_b")),
        {STEP}),
    "momentum buffer ignored (plain SGD)": (
        edit(learning(W_UPDATE, "layer.W -= self.lr * layer.dW"), learning(B_UPDATE, "layer.b -= self.lr * layer.db")),
        {STEP}),
    "velocity without the learning rate, lr applied twice": (
        edit(learning(MOM_W, "layer.momentum_W *= self.momentum\n        layer.momentum_W -= layer.dW"),
             learning(W_UPDATE, "layer.W += self.lr * layer.momentum_W")),
        {STEP}),
    "gamma and beta never updated": (edit(learning(BN_STEP, "")), {STEP}),
    "step uses the lr given to __init__, not mlp.lr": (
        edit(mlp(STORE_LR, STORE_LR + "\n        self._initial_lr = lr"),
             learning(MOM_W, MOM_W.replace("self.lr", "self._initial_lr")),
             learning(MOM_B, MOM_B.replace("self.lr", "self._initial_lr"))),
        {STEP}),
    "zero_grads leaves the BatchNorm gradients": (edit(learning(BN_ZERO, "")), {ZERO}),
    "zero_grads also resets the momentum buffers": (
        edit(learning(ZERO_LINEAR, ZERO_LINEAR + "\n        layer.momentum_W = np.zeros_like(layer.W)"
                                                 "\n        layer.momentum_b = np.zeros_like(layer.b)")),
        {STEP, ZERO}),
    "zero_grads zeroes the weights": (
        edit(learning(ZERO_LINEAR, ZERO_LINEAR + "\n        layer.W = np.zeros_like(layer.W)")), {STEP, ZERO}),
    # get_training_stats: the loop
    "step before backward": (edit(stats(BACK_STEP, "mlp.step()\n            mlp.backward(one_hot[yb])")), {LOOP}),
    "X shuffled but not y": (edit(stats(XY, "xb, yb = X_train[batch], y_train[first:first + batch_size]")),
                             {LOOP, FIGURES}),
    "never shuffled": (edit(stats(SHUFFLE, "order = np.arange(n)")), {LOOP}),
    # The figures follow the batches as trained, so they stay right (tests/grading/test_judge_suites.py).
    "rows drawn with replacement": (edit(stats(SHUFFLE, "order = np.random.randint(0, n, size=n)")), {LOOP}),
    "shuffled once, the same order every epoch": (
        edit(stats(EPOCH_LOOP, "order = np.random.permutation(n)\n    " + EPOCH_LOOP), stats(SHUFFLE, "pass")), {LOOP}),
    "last partial batch dropped": (
        edit(stats(BATCHES, "for first in range(0, n - batch_size + 1, batch_size):")), {LOOP, FIGURES}),
    "train mode not restored after validation": (edit(stats(TRAIN_CALL, "        loss_sum")), {LOOP}),
    "validated on the test split": (
        edit(stats(SPLITS, "(X_train, y_train), _, (X_val, y_val) = dset")), {LOOP, FIGURES}),
    # get_training_stats: the figures
    "training figures as the mean of the batch means": (
        edit(stats(LOSS_SUM, "loss_sum += mlp.criterion.forward(logits, one_hot[yb]).mean()"),
             stats("wrong += int(np.sum(logits.argmax(axis=1) != yb))",
                   "wrong += np.mean(logits.argmax(axis=1) != yb)"),
             stats(TRAIN_FIGS, "n_batches = -(-n // batch_size)\n        training_losses[epoch] = loss_sum / n_batches"
                               "\n        training_errors[epoch] = wrong / n_batches")),
        {FIGURES}),
    "validation in train mode": (edit(stats(EVAL_CALL, "")), {FIGURES}),
    "loss summed instead of averaged": (
        edit(stats(TRAIN_FIGS, "training_losses[epoch] = loss_sum\n        training_errors[epoch] = wrong / n"),
             stats(VAL_LOSS, VAL_LOSS.replace(".mean()", ".sum()"))),
        {FIGURES}),
    "errors as percentages": (
        edit(stats(TRAIN_FIGS, "training_losses[epoch] = loss_sum / n\n        training_errors[epoch] = 100 * wrong / n"),
             stats(VAL_ERR, VAL_ERR.replace("np.mean", "100 * np.mean"))),
        {FIGURES}),
    "validation before the epoch's training": (
        edit(stats(VALIDATION, ""),
             stats(EPOCH_LOOP, EPOCH_LOOP + VALIDATION)),
        {FIGURES}),
}

# Equivalent solutions: full marks.
ALTERNATIVES: dict[str, list[Edit]] = {
    "step out of place": edit(
        learning(MOM_W, "layer.momentum_W = self.momentum * layer.momentum_W - self.lr * layer.dW"),
        learning(W_UPDATE, "layer.W = layer.W + layer.momentum_W"),
        learning(MOM_B, "layer.momentum_b = self.momentum * layer.momentum_b - self.lr * layer.db"),
        learning(B_UPDATE, "layer.b = layer.b + layer.momentum_b"),
        learning("bn.gamma -= self.lr * bn.dgamma", "bn.gamma = bn.gamma - self.lr * bn.dgamma")),
    "zero_grads with fill(0)": edit(
        learning("layer.dW = np.zeros_like(layer.W)", "layer.dW = np.zeros_like(layer.W); layer.dW.fill(0.0)"),
        learning(BN_ZERO, "    for bn in self.bn_layers:\n        bn.dgamma = bn.dgamma * 0.0\n"
                          "        bn.dbeta = np.zeros(bn.beta.shape)\n")),
    "forward by index, BatchNorm looked up with a guard": edit(
        mlp("""        for i, (layer, activation) in enumerate(zip(self.linear_layers, self.activations)):
""" + FWD_LAYER, """        for i in range(len(self.linear_layers)):
            out = self.linear_layers[i](out)
            if i < len(self.bn_layers):
                out = self.bn_layers[i](out, eval=not self.training)
            out = self.activations[i](out)""")),
    "training loop with np.random.shuffle and integer indexing of one-hot rows": edit(
        stats(SHUFFLE, "order = np.arange(n)\n        np.random.shuffle(order)"),
        stats(XY, "xb, yb = X_train[batch], y_train[batch]\n            targets = np.zeros((len(yb), mlp.output_size))"
                  "\n            targets[np.arange(len(yb)), yb] = 1.0"),
        stats(BACK_STEP, "mlp.backward(targets)\n            mlp.step()")),
    "training loss read from criterion.loss after backward": edit(
        stats(LOSS_SUM, "pass"),
        stats(BACK_STEP, BACK_STEP + "\n            loss_sum += float(np.sum(mlp.criterion.loss))")),
    "validation in chunks, batches counted with ceil": edit(
        stats(BATCHES, "import math\n        for k in range(math.ceil(n / batch_size)):\n            first = k * batch_size"),
        stats(VALIDATION, """        mlp.eval()
        val_sum, val_wrong = 0.0, 0
        for start in range(0, len(X_val), 7):
            logits = mlp.forward(X_val[start:start + 7])
            val_sum += mlp.criterion.forward(logits, one_hot[y_val[start:start + 7]]).sum()
            val_wrong += np.sum(logits.argmax(axis=1) != y_val[start:start + 7])
        validation_losses[epoch] = val_sum / len(X_val)
        validation_errors[epoch] = val_wrong / len(X_val)
""")),
    "a seeded generator and lists turned into arrays": edit(
        stats(SHUFFLE, "order = np.random.default_rng(epoch + 12345 * n).permutation(n)"),
        stats("return training_losses, training_errors, validation_losses, validation_errors",
              "return tuple(np.array(list(a)) for a in (training_losses, training_errors, validation_losses, "
              "validation_errors))")),
}

SAYS = {
    "last activation applied twice": "applied twice",
    "BatchNorm on every hidden layer, not the first num_bn_layers": "FIRST num_bn_layers",
    "eval mode not passed on to BatchNorm": "eval=True",
    "momentum sign flipped (W -= momentum_W)": "momentum_W = momentum * momentum_W - lr * dW",
    "zero_grads leaves the BatchNorm gradients": "BatchNorm gradients",
    "zero_grads also resets the momentum buffers": "momentum",
    "step before backward": "forward -> step -> backward",
    "X shuffled but not y": "same permutation",
    "shuffled once, the same order every epoch": "new permutation every epoch",
    "last partial batch dropped": "do not drop it",
    "train mode not restored after validation": "mlp.train()",
    "training figures as the mean of the batch means": "mean of the batch means",
    "validation in train mode": "train mode",
    "loss summed instead of averaged": "looks like a sum",
    "errors as percentages": "percentage",
    "validated on the test split": "test split is not used",
}

CATALOGUE = Catalogue(
    assignment="06_mlp",
    bugs=[Bug(name, edits, loses, says=SAYS.get(name, "")) for name, (edits, loses) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    buggy_sample=("BatchNorm after the activation", "training figures as the mean of the batch means"),
)
