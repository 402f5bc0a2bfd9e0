"""The Python side of the captioner: the model file format, the encoder and decoder, the
reference captioner (the oracle the C program is tested against) and the caption metrics.

Modules:
  paths         where the repository, the shared data and the default files are
  model_file    read and write the model file (the C reader is src/model.c)
  tflite_reader the TFLite flatbuffers the ImageNet encoder weights come from
  mobilenet_v2  the encoder
  decoder       the soft-attention LSTM decoder
  image         image loading, as the C loader does it
  reference     the reference Captioner, its tags and its (constrained) beam search
  tagger        the ImageNet classifier of the pretrained MobileNetV2 on the encoder's trunk
  class_words   ImageNet class -> the word a caption uses (tools/data/imagenet_class_words.tsv)
  open_vocab    version-1 model -> version 2: tagger, class table, transferred class words
  evaluate      BLEU-1..4, ROUGE-L and CIDEr-D (standard library only)
  records       the C program's caption files (jsonl or text), keyed by file name

Importing the package imports none of its modules, so `captioner.evaluate` runs without
numpy or PyTorch. The scripts beside this folder (tools/*.py) import it directly: Python puts a
script's own folder first on the module path. Everything else sets PYTHONPATH to tools/.
"""
