print("mmutorture")
