"""After the chapter: the trained model as a web page (serve) and on the Hugging Face Hub (share)."""
