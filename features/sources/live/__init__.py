"""Bar sources for the live radar: replay of a stored or simulated history, and exchange
collectors (ccxt REST polling and ccxt.pro websockets). Each hands the radar the bars that just
closed, ``{symbol: one-row canonical frame}``, and never invents a bar it could not complete."""
