"""Reference forward passes and test fixtures for the Hugging Face causal language models.

Writes, under packages/model/test/fixtures/hf/, small random checkpoints in the exact Hugging Face layout
(config.json, model.safetensors or two shards with model.safetensors.index.json) for GPT2LMHeadModel,
LlamaForCausalLM and Qwen2ForCausalLM, and for each one the golden logits of 24 seeded token ids
(golden-logits.f32, float32 little-endian, [24, vocab] row-major) and their mean next-token cross-entropy
(golden.json); and two PEFT LoRA adapter folders (adapter_config.json, adapter_model.safetensors) for the GPT-2
and Llama ones, with the golden logits of the base with the adapter merged as PEFT merges it. The forward passes are written here in plain torch ops after the transformers (4.4x) modeling
code, computed in float64 from the stored weights (F16/BF16 values widened exactly), so they are a reference
independent of the TypeScript (tfjs) implementation the tests check against them.

Every run is seeded (torch.manual_seed) and rewrites the same bytes. Before writing, the script cross-checks
its own pieces: attention against a per-position loop (and GPT-2's against torch.nn.MultiheadAttention),
LayerNorm and GELU against torch.nn.functional, rotary embeddings against the complex-number form, the llama3
frequency rule against a scalar version, causality of the logits, and each written file read back by a separate
safetensors parser.

Needs PyTorch only, from Debian: `apt-get install python3-torch`, then run with the system interpreter:

    /usr/bin/python3 scripts/reference/hf_reference.py

Its output is committed, so the tests need no PyTorch.
"""
import cmath
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'packages', 'model', 'test', 'fixtures', 'hf')
SEQ = 24
TRANSFORMERS_VERSION = '4.45.2'
DT = torch.float64

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}
TORCH_DTYPE_NAMES = {'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16'}
DTYPE_BYTES = {'F32': 4, 'F16': 2, 'BF16': 2}


# ---------------------------------------------------------------- safetensors

def tensor_bytes(t):
    """Row-major little-endian bytes of a float32/float16/bfloat16 tensor."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        raw = t.view(torch.int16).numpy().astype('<i2')
    elif t.dtype == torch.float16:
        raw = t.numpy().astype('<f2')
    elif t.dtype == torch.float32:
        raw = t.numpy().astype('<f4')
    else:
        raise ValueError(f'unsupported dtype {t.dtype}')
    return raw.tobytes()


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, tensor) in the order to pack; every tensor stored as `dtype`."""
    header = {'__metadata__': {'format': 'pt'}}
    blobs = []
    at = 0
    for name, t in tensors:
        b = tensor_bytes(t.to(DTYPES[dtype]))
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * (-len(h) % 8)  # padded to 8 bytes with spaces, as the safetensors library does
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return at


def read_safetensors(path):
    """A separate reader (struct, not numpy/torch views): name -> (dtype, shape, list of float)."""
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n].decode('utf-8'))
    body = data[8 + n:]
    out = {}
    covered = 0
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, end = e['data_offsets']
        raw = body[b:end]
        count = math.prod(e['shape'])
        assert end - b == count * DTYPE_BYTES[e['dtype']], name
        if e['dtype'] == 'F32':
            vals = list(struct.unpack(f'<{count}f', raw))
        elif e['dtype'] == 'F16':
            vals = list(struct.unpack(f'<{count}e', raw))
        else:  # BF16: the top half of a float32
            vals = [struct.unpack('<f', b'\x00\x00' + raw[2 * i:2 * i + 2])[0] for i in range(count)]
        out[name] = (e['dtype'], e['shape'], vals)
        covered += end - b
    assert covered == len(body), path
    return out


# ---------------------------------------------------------------- weights

def normal(*shape, std):
    return torch.randn(*shape, dtype=torch.float32) * std


def matrix(*shape):
    return normal(*shape, std=0.2)


def norm_weight(n):
    return 1 + normal(n, std=0.1)


def bias(n):
    return normal(n, std=0.1)


def stored(t, dtype):
    """The value the checkpoint holds, widened exactly to float64."""
    return t.to(DTYPES[dtype]).to(DT)


# ---------------------------------------------------------------- shared pieces

def causal_attention(q, k, v):
    """q: [heads, t, d]; k, v: [heads, t, d] (already repeated for grouped-query). Masked softmax(q·kᵀ/√d)·v."""
    t, d = q.shape[1], q.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    scores = scores.masked_fill(~mask, torch.finfo(DT).min)
    return torch.softmax(scores, dim=-1) @ v


def loop_attention(q, k, v):
    """The same attention, one head and one query position at a time, with Python floats (the check)."""
    heads, t, d = q.shape
    out = torch.zeros_like(q)
    ql, kl, vl = q.tolist(), k.tolist(), v.tolist()
    for h in range(heads):
        for i in range(t):
            s = [sum(a * b for a, b in zip(ql[h][i], kl[h][j])) / math.sqrt(d) for j in range(i + 1)]
            m = max(s)
            e = [math.exp(x - m) for x in s]
            z = sum(e)
            for j in range(i + 1):
                w = e[j] / z
                for c in range(d):
                    out[h, i, c] += w * vl[h][j][c]
    return out


def cross_entropy(logits, ids):
    """Mean over positions 1..n-1 of −log softmax(logits[t-1])[ids[t]], in nats."""
    return F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction='mean').item()


# ---------------------------------------------------------------- GPT-2

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gpt2_forward(cfg, p, ids, attention=causal_attention, mha_check=False):
    """GPT2LMHeadModel: p maps names without the `transformer.` prefix to float64 tensors."""
    n, heads, eps = cfg['n_embd'], cfg['n_head'], cfg['layer_norm_epsilon']
    d = n // heads
    t = len(ids)
    h = p['wte.weight'][ids] + p['wpe.weight'][torch.arange(t)]
    for i in range(cfg['n_layer']):
        pre = f'h.{i}.'
        a = layer_norm(h, p[pre + 'ln_1.weight'], p[pre + 'ln_1.bias'], eps)
        qkv = a @ p[pre + 'attn.c_attn.weight'] + p[pre + 'attn.c_attn.bias']  # Conv1D: x @ W[in, out] + b
        q, k, v = qkv.split(n, dim=-1)
        split = lambda x: x.view(t, heads, d).transpose(0, 1)  # noqa: E731  [heads, t, d]
        o = attention(split(q), split(k), split(v)).transpose(0, 1).reshape(t, n)
        o = o @ p[pre + 'attn.c_proj.weight'] + p[pre + 'attn.c_proj.bias']
        if mha_check:
            mha = torch.nn.MultiheadAttention(n, heads, bias=True, dtype=DT)
            with torch.no_grad():
                mha.in_proj_weight.copy_(p[pre + 'attn.c_attn.weight'].T)
                mha.in_proj_bias.copy_(p[pre + 'attn.c_attn.bias'])
                mha.out_proj.weight.copy_(p[pre + 'attn.c_proj.weight'].T)
                mha.out_proj.bias.copy_(p[pre + 'attn.c_proj.bias'])
                ref, _ = mha(a[:, None], a[:, None], a[:, None], attn_mask=torch.triu(torch.ones(t, t, dtype=torch.bool), 1), need_weights=False)
            assert torch.allclose(o, ref[:, 0], rtol=0, atol=1e-12), 'GPT-2 attention differs from nn.MultiheadAttention'
            ln_ref = F.layer_norm(h, (n,), p[pre + 'ln_1.weight'], p[pre + 'ln_1.bias'], eps)
            assert torch.allclose(a, ln_ref, rtol=0, atol=1e-12), 'LayerNorm differs from F.layer_norm'
        h = h + o
        m = layer_norm(h, p[pre + 'ln_2.weight'], p[pre + 'ln_2.bias'], eps)
        f = m @ p[pre + 'mlp.c_fc.weight'] + p[pre + 'mlp.c_fc.bias']
        if mha_check:
            assert torch.allclose(gelu_new(f), F.gelu(f, approximate='tanh'), rtol=0, atol=1e-14), 'gelu_new differs from F.gelu(tanh)'
        h = h + gelu_new(f) @ p[pre + 'mlp.c_proj.weight'] + p[pre + 'mlp.c_proj.bias']
    h = layer_norm(h, p['ln_f.weight'], p['ln_f.bias'], eps)
    return h @ p['wte.weight'].T


def gpt2_config(vocab, positions, embd, layers, heads, dtype):
    return {
        'activation_function': 'gelu_new',
        'architectures': ['GPT2LMHeadModel'],
        'attn_pdrop': 0.1,
        'bos_token_id': vocab - 1,
        'embd_pdrop': 0.1,
        'eos_token_id': vocab - 1,
        'initializer_range': 0.02,
        'layer_norm_epsilon': 1e-05,
        'model_type': 'gpt2',
        'n_ctx': positions,
        'n_embd': embd,
        'n_head': heads,
        'n_inner': None,
        'n_layer': layers,
        'n_positions': positions,
        'reorder_and_upcast_attn': False,
        'resid_pdrop': 0.1,
        'scale_attn_by_inverse_layer_idx': False,
        'scale_attn_weights': True,
        'summary_activation': None,
        'summary_first_dropout': 0.1,
        'summary_proj_to_labels': True,
        'summary_type': 'cls_index',
        'summary_use_proj': True,
        'torch_dtype': TORCH_DTYPE_NAMES[dtype],
        'transformers_version': TRANSFORMERS_VERSION,
        'use_cache': True,
        'vocab_size': vocab,
    }


def gpt2_weights(cfg):
    """Parameters in GPT2LMHeadModel's state-dict order (names without the prefix)."""
    n, inner, pos, vocab = cfg['n_embd'], 4 * cfg['n_embd'], cfg['n_positions'], cfg['vocab_size']
    w = [('wte.weight', matrix(vocab, n)), ('wpe.weight', matrix(pos, n))]
    for i in range(cfg['n_layer']):
        pre = f'h.{i}.'
        w += [
            (pre + 'ln_1.weight', norm_weight(n)), (pre + 'ln_1.bias', bias(n)),
            (pre + 'attn.c_attn.weight', matrix(n, 3 * n)), (pre + 'attn.c_attn.bias', bias(3 * n)),
            (pre + 'attn.c_proj.weight', matrix(n, n)), (pre + 'attn.c_proj.bias', bias(n)),
            (pre + 'ln_2.weight', norm_weight(n)), (pre + 'ln_2.bias', bias(n)),
            (pre + 'mlp.c_fc.weight', matrix(n, inner)), (pre + 'mlp.c_fc.bias', bias(inner)),
            (pre + 'mlp.c_proj.weight', matrix(inner, n)), (pre + 'mlp.c_proj.bias', bias(n)),
        ]
    w += [('ln_f.weight', norm_weight(n)), ('ln_f.bias', bias(n))]
    return w


def gpt2_tensors(cfg, params, prefixed):
    """The checkpoint's tensors: parameters plus each block's `attn.bias` (causal mask) and `attn.masked_bias`
    buffers after its `ln_1`... as the state dict lists them; `transformer.` prefix and a stored lm_head if asked."""
    pos = cfg['n_positions']
    mask = torch.tril(torch.ones(pos, pos, dtype=torch.float32)).view(1, 1, pos, pos)
    out = []
    for name, t in params:
        out.append((name, t))
        if name.endswith('.ln_1.bias'):
            pre = name[:-len('ln_1.bias')]
            out += [(pre + 'attn.bias', mask), (pre + 'attn.masked_bias', torch.tensor(-1e4, dtype=torch.float32))]
    if prefixed:
        out = [('transformer.' + name, t) for name, t in out]
        out.append(('lm_head.weight', dict(params)['wte.weight']))
    return out


# ---------------------------------------------------------------- Llama / Qwen2

def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    x1, x2 = x[..., :x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def default_inv_freq(theta, head_dim):
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(DT) / head_dim))


def llama3_inv_freq(inv_freq, s):
    factor, low, high, old = s['factor'], s['low_freq_factor'], s['high_freq_factor'], s['original_max_position_embeddings']
    low_freq_wavelen = old / low
    high_freq_wavelen = old / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def llama3_inv_freq_scalar(inv_freq, s):
    """The rule one frequency at a time, written from its description (the check)."""
    factor, low, high, old = s['factor'], s['low_freq_factor'], s['high_freq_factor'], s['original_max_position_embeddings']
    out = []
    for f in inv_freq.tolist():
        wavelen = 2 * math.pi / f
        if wavelen > old / low:
            out.append(f / factor)
        elif wavelen < old / high:
            out.append(f)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=DT)


def head_dim_of(cfg):
    return cfg.get('head_dim') or cfg['hidden_size'] // cfg['num_attention_heads']


def inv_freq_of(cfg):
    inv = default_inv_freq(cfg['rope_theta'], head_dim_of(cfg))
    s = cfg.get('rope_scaling')
    if s is not None and s.get('rope_type', s.get('type')) == 'llama3':
        inv = llama3_inv_freq(inv, s)
    return inv


def rope_rotate_half(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def rope_complex(x, cos, sin):
    """The check: pair element c with c + d/2 as a complex number and multiply by e^{i·pos·freq}."""
    d = x.shape[-1]
    half = d // 2
    out = torch.zeros_like(x)
    for idx in torch.cartesian_prod(*[torch.arange(s) for s in x.shape[:-1]]).tolist():
        idx = tuple(idx) if isinstance(idx, list) else (idx,)
        pos = idx[-1]
        for c in range(half):
            z = complex(x[idx + (c,)].item(), x[idx + (c + half,)].item())
            r = z * cmath.exp(1j * math.atan2(sin[pos, c].item(), cos[pos, c].item()))
            out[idx + (c,)] = r.real
            out[idx + (c + half,)] = r.imag
    return out


def llama_forward(cfg, p, ids, attention=causal_attention, rope=rope_rotate_half, checks=False):
    """LlamaForCausalLM / Qwen2ForCausalLM (q, k, v biases when the tensors exist)."""
    hidden, heads = cfg['hidden_size'], cfg['num_attention_heads']
    kv_heads = cfg.get('num_key_value_heads') or heads
    d = head_dim_of(cfg)
    eps = cfg['rms_norm_eps']
    t = len(ids)
    inv = inv_freq_of(cfg)
    freqs = torch.arange(t, dtype=DT)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    h = p['model.embed_tokens.weight'][ids]

    def proj(x, name):
        y = x @ p[name + '.weight'].T
        return y + p[name + '.bias'] if name + '.bias' in p else y

    for i in range(cfg['num_hidden_layers']):
        pre = f'model.layers.{i}.'
        a = rms_norm(h, p[pre + 'input_layernorm.weight'], eps)
        q = proj(a, pre + 'self_attn.q_proj').view(t, heads, d).transpose(0, 1)
        k = proj(a, pre + 'self_attn.k_proj').view(t, kv_heads, d).transpose(0, 1)
        v = proj(a, pre + 'self_attn.v_proj').view(t, kv_heads, d).transpose(0, 1)
        if checks and i == 0:
            for x in (q, k):
                assert torch.allclose(rope(x, cos, sin), rope_complex(x, cos, sin), rtol=0, atol=1e-12), 'rotary differs from the complex form'
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = heads // kv_heads  # query head j uses key/value head j // rep (repeat_kv)
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        o = attention(q, k, v).transpose(0, 1).reshape(t, heads * d)
        h = h + o @ p[pre + 'self_attn.o_proj.weight'].T
        m = rms_norm(h, p[pre + 'post_attention_layernorm.weight'], eps)
        gate = m @ p[pre + 'mlp.gate_proj.weight'].T
        up = m @ p[pre + 'mlp.up_proj.weight'].T
        if checks:
            assert torch.allclose(F.silu(gate), gate * torch.sigmoid(gate), rtol=0, atol=1e-14)
        h = h + (F.silu(gate) * up) @ p[pre + 'mlp.down_proj.weight'].T
    h = rms_norm(h, p['model.norm.weight'], eps)
    head = p['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else p['lm_head.weight']
    return h @ head.T


def llama_config(model_type, vocab, hidden, inter, layers, heads, kv_heads, theta, max_pos, tied, dtype, head_dim=None, rope_scaling=None):
    arch = {'llama': 'LlamaForCausalLM', 'qwen2': 'Qwen2ForCausalLM'}[model_type]
    c = {'architectures': [arch]}
    if model_type == 'llama':
        c.update({'attention_bias': False, 'attention_dropout': 0.0, 'bos_token_id': 1, 'eos_token_id': 2})
        if head_dim is not None:
            c['head_dim'] = head_dim
        c.update({
            'hidden_act': 'silu', 'hidden_size': hidden, 'initializer_range': 0.02, 'intermediate_size': inter,
            'max_position_embeddings': max_pos, 'mlp_bias': False, 'model_type': 'llama', 'num_attention_heads': heads,
            'num_hidden_layers': layers, 'num_key_value_heads': kv_heads, 'pretraining_tp': 1, 'rms_norm_eps': 1e-05,
            'rope_scaling': rope_scaling, 'rope_theta': theta, 'tie_word_embeddings': tied,
        })
    else:
        c.update({
            'attention_dropout': 0.0, 'bos_token_id': vocab - 2, 'eos_token_id': vocab - 1, 'hidden_act': 'silu',
            'hidden_size': hidden, 'initializer_range': 0.02, 'intermediate_size': inter, 'max_position_embeddings': max_pos,
            'max_window_layers': layers, 'model_type': 'qwen2', 'num_attention_heads': heads, 'num_hidden_layers': layers,
            'num_key_value_heads': kv_heads, 'rms_norm_eps': 1e-05, 'rope_scaling': rope_scaling, 'rope_theta': theta,
            'sliding_window': max_pos, 'tie_word_embeddings': tied,
        })
    c.update({'torch_dtype': TORCH_DTYPE_NAMES[dtype], 'transformers_version': TRANSFORMERS_VERSION, 'use_cache': True})
    if model_type == 'qwen2':
        c['use_sliding_window'] = False
    c['vocab_size'] = vocab
    return c


def llama_tensors(cfg, qkv_bias, inv_freq_buffer):
    """The checkpoint's tensors in the state-dict order of LlamaForCausalLM / Qwen2ForCausalLM."""
    hidden, inter, vocab = cfg['hidden_size'], cfg['intermediate_size'], cfg['vocab_size']
    d = head_dim_of(cfg)
    q, kv = cfg['num_attention_heads'] * d, cfg['num_key_value_heads'] * d
    w = [('model.embed_tokens.weight', matrix(vocab, hidden))]
    for i in range(cfg['num_hidden_layers']):
        pre = f'model.layers.{i}.'
        w.append((pre + 'self_attn.q_proj.weight', matrix(q, hidden)))
        if qkv_bias:
            w.append((pre + 'self_attn.q_proj.bias', bias(q)))
        w.append((pre + 'self_attn.k_proj.weight', matrix(kv, hidden)))
        if qkv_bias:
            w.append((pre + 'self_attn.k_proj.bias', bias(kv)))
        w.append((pre + 'self_attn.v_proj.weight', matrix(kv, hidden)))
        if qkv_bias:
            w.append((pre + 'self_attn.v_proj.bias', bias(kv)))
        w.append((pre + 'self_attn.o_proj.weight', matrix(hidden, q)))
        if inv_freq_buffer:
            w.append((pre + 'self_attn.rotary_emb.inv_freq', inv_freq_of(cfg).to(torch.float32)))
        w += [
            (pre + 'mlp.gate_proj.weight', matrix(inter, hidden)),
            (pre + 'mlp.up_proj.weight', matrix(inter, hidden)),
            (pre + 'mlp.down_proj.weight', matrix(hidden, inter)),
            (pre + 'input_layernorm.weight', norm_weight(hidden)),
            (pre + 'post_attention_layernorm.weight', norm_weight(hidden)),
        ]
    w.append(('model.norm.weight', norm_weight(hidden)))
    if not cfg['tie_word_embeddings']:
        w.append(('lm_head.weight', matrix(vocab, hidden)))
    return w


# ---------------------------------------------------------------- fixtures

def token_ids(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (SEQ,), generator=g).tolist()


def check_causal(forward, ids, vocab):
    """Changing the last token leaves every earlier position's logits unchanged, and changes the last one's."""
    a = forward(ids)
    other = list(ids)
    other[-1] = (other[-1] + 1) % vocab
    b = forward(other)
    assert torch.equal(a[:-1], b[:-1]), 'a later token changed earlier logits'
    assert not torch.equal(a[-1], b[-1])


def write_fixture(name, cfg, tensors, dtype, forward, ids, shards=None):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')
    if shards is None:
        write_safetensors(os.path.join(folder, 'model.safetensors'), tensors, dtype)
        files = ['model.safetensors']
    else:
        parts = [tensors[:shards], tensors[shards:]]
        files = [f'model-0000{i + 1}-of-00002.safetensors' for i in range(2)]
        total = 0
        weight_map = {}
        for file, part in zip(files, parts):
            total += write_safetensors(os.path.join(folder, file), part, dtype)
            weight_map.update({n: file for n, _ in part})
        index = {'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))}
        with open(os.path.join(folder, 'model.safetensors.index.json'), 'w') as f:
            json.dump(index, f, indent=2)
            f.write('\n')
    # Read the files back with the separate parser and compute the goldens from what they hold.
    read = {}
    for file in files:
        read.update(read_safetensors(os.path.join(folder, file)))
    assert list(read) == [n for n, _ in tensors], f'{name}: names or order differ after reading back'
    params = {}
    for n, t in tensors:
        dt, shape, vals = read[n]
        assert dt == dtype and shape == list(t.shape), n
        back = torch.tensor(vals, dtype=DT).view(t.shape)
        assert torch.equal(back, stored(t, dtype)), f'{name}: {n} does not read back exactly'
        params[n] = back
    logits = forward(params, ids)
    loss = cross_entropy(logits, ids)
    with open(os.path.join(folder, 'golden-logits.f32'), 'wb') as f:
        f.write(logits.to(torch.float32).numpy().astype('<f4').tobytes())
    with open(os.path.join(folder, 'golden.json'), 'w') as f:
        json.dump({'token_ids': ids, 'loss': loss, 'logits_file': 'golden-logits.f32'}, f, indent=2)
        f.write('\n')
    sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in sorted(os.listdir(folder))}
    print(f'{name}: loss {loss:.6f} (ln vocab {math.log(cfg["vocab_size"]):.4f}), logits std {logits.std().item():.3f}, '
          f'{sum(sizes.values())} bytes: {sizes}')
    return params, logits


def strip_prefix(params):
    return {n[len('transformer.'):] if n.startswith('transformer.') else n: t for n, t in params.items()}


def check_gpt2(cfg, params, ids, logits):
    p = strip_prefix(params)
    slow = gpt2_forward(cfg, p, ids, attention=loop_attention, mha_check=True)
    assert torch.allclose(logits, slow, rtol=0, atol=1e-10), 'GPT-2 forward differs with the loop attention'
    check_causal(lambda x: gpt2_forward(cfg, p, x), ids, cfg['vocab_size'])
    assert torch.allclose(p['h.0.attn.bias'][0, 0], torch.tril(torch.ones(cfg['n_positions'], cfg['n_positions'], dtype=DT)))


def check_llama(cfg, params, ids, logits):
    slow = llama_forward(cfg, params, ids, attention=loop_attention, checks=True)
    assert torch.allclose(logits, slow, rtol=0, atol=1e-10), 'Llama forward differs with the loop attention'
    check_causal(lambda x: llama_forward(cfg, params, x), ids, cfg['vocab_size'])
    # Grouped-query attention by explicit indexing: query head j reads key/value head j // (heads / kv_heads).
    heads, kv = cfg['num_attention_heads'], cfg['num_key_value_heads']
    assert [j // (heads // kv) for j in range(heads)] == torch.arange(kv).repeat_interleave(heads // kv).tolist()


# ---------------------------------------------------------------- PEFT LoRA adapters

def peft_modules(cfg, targets, gpt2):
    """(module path as the forward names it, PEFT key prefix) of every adapted projection, in model order."""
    out = []
    for i in range(cfg['n_layer'] if gpt2 else cfg['num_hidden_layers']):
        mods = [f'h.{i}.attn.c_attn', f'h.{i}.attn.c_proj', f'h.{i}.mlp.c_fc', f'h.{i}.mlp.c_proj'] if gpt2 else \
            [f'model.layers.{i}.self_attn.{m}' for m in ('q_proj', 'k_proj', 'v_proj', 'o_proj')] + [f'model.layers.{i}.mlp.{m}' for m in ('gate_proj', 'up_proj', 'down_proj')]
        for m in mods:
            if m.rsplit('.', 1)[1] in targets:
                out.append((m, 'base_model.model.' + ('transformer.' if gpt2 else '') + m))
    return out


def write_peft_fixture(name, base, cfg, params, targets, r, alpha, dtype, forward, ids, gpt2, seed):
    """A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) for the fixture `base`, and the
    golden logits of the base with the adapter merged as PEFT's merge_and_unload does it: W + (alpha/r)·B·A for an
    nn.Linear weight [out, in], W + (alpha/r)·(B·A)ᵀ for a GPT-2 Conv1D weight [in, out] (fan_in_fan_out).
    lora_A [r, in] and lora_B [out, r] are random (B is not zero, unlike PEFT's initialisation, so that the adapter
    changes the logits), from a generator of their own (`seed`), so that the other fixtures stay as they were."""
    g = torch.Generator().manual_seed(seed)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    scale = alpha / r
    tensors = []
    merged = dict(params)
    for module, key in peft_modules(cfg, targets, gpt2):
        w = params[module + '.weight']
        fan_in, fan_out = (w.shape[0], w.shape[1]) if gpt2 else (w.shape[1], w.shape[0])
        a = torch.randn(r, fan_in, generator=g, dtype=torch.float32) * 0.3
        b = torch.randn(fan_out, r, generator=g, dtype=torch.float32) * 0.3
        tensors += [(key + '.lora_A.weight', a), (key + '.lora_B.weight', b)]
        delta = scale * (stored(b, dtype) @ stored(a, dtype))  # [out, in]
        merged[module + '.weight'] = w + (delta.T if gpt2 else delta)
    config = {
        'alpha_pattern': {}, 'auto_mapping': None, 'base_model_name_or_path': base, 'bias': 'none', 'fan_in_fan_out': gpt2,
        'inference_mode': True, 'init_lora_weights': True, 'layers_pattern': None, 'layers_to_transform': None, 'lora_alpha': alpha,
        'lora_dropout': 0.05, 'modules_to_save': None, 'peft_type': 'LORA', 'r': r, 'rank_pattern': {}, 'revision': None,
        'target_modules': sorted(targets), 'task_type': 'CAUSAL_LM', 'use_dora': False, 'use_rslora': False
    }
    with open(os.path.join(folder, 'adapter_config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    path = os.path.join(folder, 'adapter_model.safetensors')
    write_safetensors(path, tensors, dtype)
    read = read_safetensors(path)
    for n, t in tensors:
        assert torch.equal(torch.tensor(read[n][2], dtype=DT).view(t.shape), stored(t, dtype)), f'{name}: {n} does not read back exactly'
    logits = forward(merged, ids)
    # the unmerged computation, base(x) + scale·(x·Aᵀ)·Bᵀ, on one projection: the merge is what the adapter computes
    module, key = peft_modules(cfg, targets, gpt2)[0]
    x = torch.randn(5, params[module + '.weight'].shape[0 if gpt2 else 1], generator=g, dtype=DT)
    a, b = stored(tensors[0][1], dtype), stored(tensors[1][1], dtype)
    base_y = x @ params[module + '.weight'] if gpt2 else x @ params[module + '.weight'].T
    merged_y = x @ merged[module + '.weight'] if gpt2 else x @ merged[module + '.weight'].T
    assert torch.allclose(merged_y, base_y + scale * (x @ a.T) @ b.T, rtol=0, atol=1e-12), 'the merge differs from the adapter'
    loss = cross_entropy(logits, ids)
    with open(os.path.join(folder, 'golden-logits.f32'), 'wb') as f:
        f.write(logits.to(torch.float32).numpy().astype('<f4').tobytes())
    with open(os.path.join(folder, 'golden.json'), 'w') as f:
        json.dump({'base': base, 'token_ids': ids, 'loss': loss, 'logits_file': 'golden-logits.f32'}, f, indent=2)
        f.write('\n')
    print(f'{name}: {len(tensors) // 2} adapted projections of {base}, r {r}, alpha {alpha}, {dtype}: loss {loss:.6f}')
    return logits


def main():
    torch.manual_seed(20240611)
    os.makedirs(OUT, exist_ok=True)
    results = {}

    # a. gpt2-tiny: published gpt2 naming (no prefix), mask buffers, tied head, F32.
    cfg = gpt2_config(97, 64, 32, 2, 4, 'F32')
    params = gpt2_weights(cfg)
    tensors = gpt2_tensors(cfg, params, prefixed=False)
    ids = token_ids(97, 1)
    p, logits = write_fixture('gpt2-tiny', cfg, tensors, 'F32', lambda p, x: gpt2_forward(cfg, p, x), ids)
    check_gpt2(cfg, p, ids, logits)
    results['gpt2-tiny'] = logits
    peft = write_peft_fixture('gpt2-tiny-peft', 'gpt2-tiny', cfg, strip_prefix(p), ['c_attn', 'c_proj'], 2, 6, 'F16',
                              lambda q, x: gpt2_forward(cfg, q, x), ids, gpt2=True, seed=11)
    assert not torch.allclose(peft, logits, atol=1e-2), 'the GPT-2 adapter changes nothing'

    # b. gpt2-tiny-prefixed: distilgpt2 naming (`transformer.` prefix, lm_head.weight stored), F16.
    params = gpt2_weights(cfg)
    cfg_b = gpt2_config(97, 64, 32, 2, 4, 'F16')
    tensors = gpt2_tensors(cfg_b, params, prefixed=True)
    ids = token_ids(97, 2)
    p, logits = write_fixture('gpt2-tiny-prefixed', cfg_b, tensors, 'F16', lambda p, x: gpt2_forward(cfg_b, strip_prefix(p), x), ids)
    assert torch.equal(p['lm_head.weight'], p['transformer.wte.weight'])
    check_gpt2(cfg_b, p, ids, logits)

    # c. llama-tiny: grouped-query attention, tied embeddings (SmolLM), rotary_emb.inv_freq buffers, F32.
    cfg = llama_config('llama', 101, 64, 128, 2, 4, 2, 10000.0, 128, True, 'F32')
    tensors = llama_tensors(cfg, qkv_bias=False, inv_freq_buffer=True)
    ids = token_ids(101, 3)
    p, logits = write_fixture('llama-tiny', cfg, tensors, 'F32', lambda p, x: llama_forward(cfg, p, x), ids)
    check_llama(cfg, p, ids, logits)
    assert torch.allclose(p['model.layers.0.self_attn.rotary_emb.inv_freq'], default_inv_freq(10000.0, 16), rtol=1e-6, atol=0)
    peft = write_peft_fixture('llama-tiny-peft', 'llama-tiny', cfg, p, ['q_proj', 'v_proj', 'down_proj'], 4, 8, 'F32',
                              lambda q, x: llama_forward(cfg, q, x), ids, gpt2=False, seed=12)
    assert not torch.allclose(peft, logits, atol=1e-2), 'the Llama adapter changes nothing'

    # d. llama3-tiny: explicit head_dim 24, untied head, llama3 rope scaling, BF16, two shards.
    scaling = {'factor': 8.0, 'high_freq_factor': 4.0, 'low_freq_factor': 1.0, 'original_max_position_embeddings': 16, 'rope_type': 'llama3'}
    cfg = llama_config('llama', 101, 64, 128, 2, 4, 2, 500000.0, 128, False, 'BF16', head_dim=24, rope_scaling=scaling)
    base = default_inv_freq(500000.0, 24)
    scaled = llama3_inv_freq(base, scaling)
    assert torch.allclose(scaled, llama3_inv_freq_scalar(base, scaling), rtol=1e-15, atol=0)
    wavelen = 2 * math.pi / base
    kinds = ['unchanged' if w < 4 else 'divided' if w > 16 else 'smoothed' for w in wavelen.tolist()]
    assert 'divided' in kinds and 'smoothed' in kinds, kinds
    print('llama3 rule on the 12 frequencies:', ', '.join(f'{k} ({b:.4g} -> {s:.4g})' for k, b, s in zip(kinds, base.tolist(), scaled.tolist())))
    tensors = llama_tensors(cfg, qkv_bias=False, inv_freq_buffer=False)
    ids = token_ids(101, 4)
    first_shard = 1 + sum(1 for n, _ in tensors if n.startswith('model.layers.0.'))  # embed + layer 0
    p, logits = write_fixture('llama3-tiny', cfg, tensors, 'BF16', lambda p, x: llama_forward(cfg, p, x), ids, shards=first_shard)
    check_llama(cfg, p, ids, logits)
    plain = dict(cfg, rope_scaling=None)
    assert not torch.allclose(logits, llama_forward(plain, p, ids), atol=1e-4), 'the llama3 rule changes nothing here'

    # e. qwen2-tiny: q/k/v biases, untied head, θ = 1e6, F32.
    cfg = llama_config('qwen2', 101, 64, 128, 2, 4, 2, 1000000.0, 128, False, 'F32')
    tensors = llama_tensors(cfg, qkv_bias=True, inv_freq_buffer=False)
    ids = token_ids(101, 5)
    p, logits = write_fixture('qwen2-tiny', cfg, tensors, 'F32', lambda p, x: llama_forward(cfg, p, x), ids)
    check_llama(cfg, p, ids, logits)
    no_bias = {n: t for n, t in p.items() if not n.endswith('_proj.bias')}
    assert not torch.allclose(logits, llama_forward(cfg, no_bias, ids), atol=1e-4), 'the q/k/v biases change nothing'

    print('all checks passed')


if __name__ == '__main__':
    sys.exit(main())
