"""The printable e-license: the PDF page, its fonts and seal, the QR symbol and images, and the processes that render
and sign them."""
