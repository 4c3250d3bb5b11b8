"""wavegen: genre-conditioned raw-audio WaveNets.

The data flow is one way: corpus -> Kaldi data dir -> dump -> trained model -> exported
weights -> inference engine -> WAVs. Each arrow is a subpackage boundary:
``wavegen.data``, ``wavegen.models``, ``wavegen.train``, ``wavegen.engine``.
"""

__version__ = "0.1.0"
