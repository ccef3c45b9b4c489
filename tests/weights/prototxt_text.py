"""Hand-written deploy.prototxt texts for the tests (V2 and V1 syntax)."""

# (name, V2 type, params text) in forward order; params as Caffe writes them.
CAFFENET = [
    ("conv1", "Convolution", "convolution_param { num_output: 96 kernel_size: 11 stride: 4 }"),
    ("relu1", "ReLU", ""),
    ("pool1", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("norm1", "LRN", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }"),
    ("conv2", "Convolution", "convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2 }"),
    ("relu2", "ReLU", ""),
    ("pool2", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("norm2", "LRN", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }"),
    ("conv3", "Convolution", "convolution_param { num_output: 384 pad: 1 kernel_size: 3 }"),
    ("relu3", "ReLU", ""),
    ("conv4", "Convolution", "convolution_param { num_output: 384 pad: 1 kernel_size: 3 group: 2 }"),
    ("relu4", "ReLU", ""),
    ("conv5", "Convolution", "convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2 }"),
    ("relu5", "ReLU", ""),
    ("pool5", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("fc6", "InnerProduct", "inner_product_param { num_output: 4096 }"),
    ("relu6", "ReLU", ""),
    ("drop6", "Dropout", "dropout_param { dropout_ratio: 0.5 }"),
    ("fc7", "InnerProduct", "inner_product_param { num_output: 4096 }"),
    ("relu7", "ReLU", ""),
    ("drop7", "Dropout", "dropout_param { dropout_ratio: 0.5 }"),
    ("fc8", "InnerProduct", "inner_product_param { num_output: 1000 }"),
    ("prob", "Softmax", ""),
]

DEMO = [
    ("conv1", "Convolution", "convolution_param { num_output: 16 kernel_size: 5 pad: 2 }"),
    ("relu1", "ReLU", ""),
    ("pool1", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("norm1", "LRN", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }"),
    ("conv2", "Convolution", "convolution_param { num_output: 32 kernel_size: 5 pad: 2 }"),
    ("relu2", "ReLU", ""),
    ("pool2", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("norm2", "LRN", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }"),
    ("conv3", "Convolution", "convolution_param { num_output: 48 kernel_size: 3 pad: 1 }"),
    ("relu3", "ReLU", ""),
    ("conv4", "Convolution", "convolution_param { num_output: 48 kernel_size: 3 pad: 1 }"),
    ("relu4", "ReLU", ""),
    ("conv5", "Convolution", "convolution_param { num_output: 48 kernel_size: 3 pad: 1 }"),
    ("relu5", "ReLU", ""),
    ("pool5", "Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    ("fc6", "InnerProduct", "inner_product_param { num_output: 256 }"),
    ("relu6", "ReLU", ""),
    ("fc7", "InnerProduct", "inner_product_param { num_output: 256 }"),
    ("relu7", "ReLU", ""),
    ("fc8", "InnerProduct", "inner_product_param { num_output: 10 }"),
    ("prob", "Softmax", ""),
]

_V1 = {"Convolution": "CONVOLUTION", "ReLU": "RELU", "Pooling": "POOLING", "LRN": "LRN",
       "InnerProduct": "INNER_PRODUCT", "Dropout": "DROPOUT", "Softmax": "SOFTMAX"}


def prototxt(layers, version="v2", input_size=227) -> str:
    """Deploy text in the V2 (`layer`, string type) or V1 (`layers`, enum) syntax,
    with the training-only fields real files carry (param, fillers)."""
    lines = ['name: "net"', 'input: "data"'] + [f"input_dim: {d}" for d in (10, 3, input_size, input_size)]
    bottom = "data"
    for name, kind, params in layers:
        top = name if kind in ("Convolution", "Pooling", "LRN", "InnerProduct", "Softmax") else bottom
        extra = ""
        if kind in ("Convolution", "InnerProduct"):
            extra = (' param { lr_mult: 1 decay_mult: 1 }' if version == "v2" else " blobs_lr: 1 weight_decay: 1")
            params = params.replace("}", 'weight_filler { type: "gaussian" std: 0.01 } }', 1)
        if version == "v2":
            lines.append(f'layer {{ name: "{name}" type: "{kind}" bottom: "{bottom}" top: "{top}"{extra} {params} }}')
        else:
            lines.append(f'layers {{ name: "{name}" type: {_V1[kind]} bottom: "{bottom}" top: "{top}"'
                         f'{extra} {params} }}')
        bottom = top
    return "\n".join(lines) + "\n"
