"""Livelihood projects service (民生实事): villagers' representatives propose, the Party branch reviews, the
villagers decide; public notice, implementation, acceptance and results made public."""
