# Finds OpenCV core + imgproc (all ltcl uses; imgcodecs drags in GDAL) and
# defines the imported target ltcl::opencv that links both. Used by ltcl's
# own build and by its installed package (ltclConfig.cmake), so that both
# name OpenCV the same way in libltcl.a's link interface.
#
# An OpenCV with an OpenCVConfig.cmake (a user's own build, found through
# OpenCV_DIR or CMAKE_PREFIX_PATH) is used as it is. Debian's
# libopencv-core-dev ships none, so without one the two libraries are looked
# up by name, first in LTCL_OPENCV_HINTS (the folders ltcl was built against)
# and then in the default places.
#
# Sets LTCL_OPENCV_FOUND, and LTCL_OPENCV_INCLUDE (the folder holding
# opencv2/core.hpp; only ltcl's build needs it: no public header includes
# OpenCV).
if(TARGET ltcl::opencv)
  set(LTCL_OPENCV_FOUND TRUE)
  return()
endif()
set(LTCL_OPENCV_FOUND FALSE)
find_package(OpenCV QUIET COMPONENTS core imgproc)
if(OpenCV_FOUND)
  add_library(ltcl::opencv INTERFACE IMPORTED)
  set_target_properties(
    ltcl::opencv PROPERTIES INTERFACE_LINK_LIBRARIES
                            "opencv_imgproc;opencv_core")
  set(LTCL_OPENCV_INCLUDE ${OpenCV_INCLUDE_DIRS})
  set(LTCL_OPENCV_FOUND TRUE)
else()
  find_path(LTCL_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4)
  find_library(LTCL_OPENCV_CORE opencv_core HINTS ${LTCL_OPENCV_HINTS})
  find_library(LTCL_OPENCV_IMGPROC opencv_imgproc HINTS ${LTCL_OPENCV_HINTS})
  if(LTCL_OPENCV_CORE AND LTCL_OPENCV_IMGPROC)
    add_library(ltcl::opencv INTERFACE IMPORTED)
    set_target_properties(
      ltcl::opencv PROPERTIES INTERFACE_LINK_LIBRARIES
                              "${LTCL_OPENCV_IMGPROC};${LTCL_OPENCV_CORE}")
    set(LTCL_OPENCV_FOUND TRUE)
  endif()
endif()
