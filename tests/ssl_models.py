"""Tiny randomly initialised self-supervised speech models, saved the way the hub ships them.

Real architectures (WavLM, wav2vec 2.0, HuBERT, data2vec-audio, Whisper) with two
small layers, a real total convolution stride (320 samples) and their own
``preprocessor_config.json``: what ``hf:FOLDER`` loads, without any download.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("wavlm", "wav2vec2", "hubert", "data2vec", "whisper")


def make_speech_model(kind: str, folder: Path, *, seed: int = 0) -> Path:
    """Save a tiny ``kind`` model (see :data:`KINDS`) with its feature extractor into ``folder``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    common = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  conv_dim=(8, 8, 8), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=2, vocab_size=8)
    if kind == "wavlm":
        model = transformers.WavLMModel(transformers.WavLMConfig(**common, num_buckets=8, max_bucket_distance=20))
    elif kind == "wav2vec2":
        model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**common))
    elif kind == "hubert":
        model = transformers.HubertModel(transformers.HubertConfig(**common))
    elif kind == "data2vec":
        model = transformers.Data2VecAudioModel(transformers.Data2VecAudioConfig(**{**common,
                                                                                    "num_conv_pos_embeddings": 2}))
    elif kind == "whisper":
        model = transformers.WhisperModel(transformers.WhisperConfig(
            d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80, vocab_size=60, max_source_positions=1500,
            max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        ))
    else:
        raise ValueError(f"unknown kind {kind!r}; known: {KINDS}")
    model.save_pretrained(folder)
    if kind == "whisper":
        transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    else:
        # Base wav2vec 2.0 checkpoints take no attention mask; the others do.
        transformers.Wav2Vec2FeatureExtractor(
            sampling_rate=16_000, do_normalize=True, return_attention_mask=kind != "wav2vec2"
        ).save_pretrained(folder)
    return Path(folder)


def direct_embedding(folder: Path, signal, *, layer="last", frames: bool = False):
    """Mean over time of one hidden state by a plain ``transformers`` forward pass (16 kHz input).

    ``frames``: also return how many frames were averaged.
    """
    import torch
    import transformers

    processor = transformers.AutoFeatureExtractor.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    whisper = model.config.model_type == "whisper"
    if whisper:
        model = model.get_encoder()
    inputs = {key: value for key, value in processor(signal, sampling_rate=16_000, return_tensors="pt").items()
              if key != "attention_mask"}
    with torch.no_grad():
        outputs = model(**inputs, output_hidden_states=True)
    if layer == "last":
        hidden = outputs.last_hidden_state
    elif layer == "mean":
        hidden = sum(outputs.hidden_states[1:]) / (len(outputs.hidden_states) - 1)
    else:
        hidden = outputs.hidden_states[layer]
    if whisper:  # padded to 30 s: keep the frames of the real audio (50 per second)
        hidden = hidden[:, : -(-len(signal) * 50 // 16_000)]
    mean = hidden.mean(dim=1)[0].double().numpy()
    return (mean, hidden.shape[1]) if frames else mean
