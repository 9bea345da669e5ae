"""Policy records: the versioned document of weights, thresholds and routing.

``schema`` defines the document, ``documents`` loads files and the shipped defaults, ``service``
stores versions and activates one, ``routing`` turns an amount and a tier into an approval chain.
"""
