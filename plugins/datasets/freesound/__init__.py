"""Training pairs mined from Freesound, as in section 2 of the DCASE 2022 report "Take it
easy": harvest sound descriptions through the Freesound API (:mod:`.api`, :mod:`.harvest`),
keep those a classifier mistakes for Clotho captions (:mod:`.mine`), and download the kept
sounds' previews as the ``freesound_mined`` dataset (:mod:`.dataset`)."""
